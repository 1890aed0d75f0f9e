import { readFileSync } from 'node:fs';

/** The tool's own version, written into every result so numbers can be traced to code. */
export const TOOL_VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/** Folder of the installed package (the shipped models and concepts live there). */
export const PACKAGE_ROOT: string = new URL('../../', import.meta.url).pathname;
