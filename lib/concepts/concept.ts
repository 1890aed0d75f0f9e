/** Where a piece of annotated text came from, so that errors can point at it. */
export interface SourceLocation {
  file: string;
  line: number;
}

/**
 * A concept span `[start, end)` in Unicode characters (code points) of the
 * sequence's plain text, the way Python's `str` counts them, so offsets in our
 * JSON read the same in Python.
 */
export interface ConceptSpan {
  start: number;
  end: number;
  /** A component of the concept (`[[duty of care|duty]]`); absent for the concept itself. */
  label?: string;
}

export interface ConceptSequence {
  id: string;
  register?: string;
  /** Plain text, markup removed: what the model reads. */
  text: string;
  spans: ConceptSpan[];
  /** Set on a control sequence: the id of the sequence it restates with the legal term in plain words. */
  paraphraseOf?: string;
  origin: SourceLocation;
}

export interface Concept {
  id: string;
  name: string;
  area: string;
  source?: string;
  note?: string;
  /** The concept's labelled components (span labels), when it has elements. */
  components?: string[];
  /** Declared relations between components: edges of a small graph. */
  structure?: Array<[string, string]>;
  sequences: ConceptSequence[];
  origin: SourceLocation;
}

/** Number of code points in a string (what span offsets count). */
export const codePointLength = (text: string): number => {
  let n = 0;
  for (const _ of text) n++;
  return n;
};
