import { JSDOM } from 'jsdom';

/** Parses an SVG string into a document to count and read its elements. */
export function parseSvg(svg: string): Document {
  return new JSDOM(svg, { contentType: 'image/svg+xml' }).window.document;
}

export const texts = (doc: Document, selector: string): string[] => Array.from(doc.querySelectorAll(selector), (e) => e.textContent ?? '');
