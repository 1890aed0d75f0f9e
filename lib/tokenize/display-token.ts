/** Makes a token readable in text and on chart axes: special characters escaped, whitespace shown. */
export function displayToken(token: string): string {
  return Array.from(token)
    .map((c) => {
      if (c === ' ') return '␣';
      if (c === '\n') return '⏎';
      if (c === '\t') return '⇥';
      const code = c.codePointAt(0) ?? 0;
      return code < 0x20 || (code >= 0x7f && code < 0xa0) ? `\\u${code.toString(16).padStart(4, '0')}` : c;
    })
    .join('');
}
