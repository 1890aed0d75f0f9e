// d3-node ships no types; this is the part of its API legal-attn uses.
declare module 'd3-node' {
  import type * as d3 from 'd3';

  export class D3Node {
    constructor(options?: { d3Module?: typeof d3; styles?: string });
    d3: typeof d3;
    document: Document;
    createSVG(width?: number, height?: number, attrs?: Record<string, string | number>): d3.Selection<SVGSVGElement, unknown, null, undefined>;
    svgString(): string;
  }
}
