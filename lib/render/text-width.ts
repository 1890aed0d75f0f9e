/**
 * Advance widths of printable ASCII (32 … 126) in hundredths of an em, from DejaVu Sans,
 * the widest of the common sans fonts and the one Linux browsers give `system-ui`:
 * a label measured with it fits in the narrower fonts of other systems too.
 */
const ASCII = '32 40 46 84 64 95 78 27 39 39 50 84 32 36 32 34 64 64 64 64 64 64 64 64 64 64 34 34 84 84 84 53 100 68 69 70 77 63 58 77 75 29 29 66 56 86 75 79 60 79 69 63 61 73 68 99 69 61 69 39 34 39 84 50 50 61 63 55 63 62 35 63 63 28 28 58 28 97 63 61 63 63 41 52 39 63 59 82 59 59 52 64 34 64 84'.split(' ').map(Number);

/** Other characters (arrows, Δ, ▁, letters with accents): at most an em. */
const OTHER = 1;
/** Bold glyphs of DejaVu Sans are at most a fifth wider. */
const BOLD = 1.2;

/** The width in px of a line of text at a font size, an upper bound in any common sans font. */
export function textWidth(text: string, fontSize: number, bold = false): number {
  let ems = 0;
  for (const char of text) {
    const code = char.codePointAt(0)!;
    ems += code >= 32 && code <= 126 ? ASCII[code - 32]! / 100 : OTHER;
  }
  return Math.ceil(ems * fontSize * (bold ? BOLD : 1));
}
