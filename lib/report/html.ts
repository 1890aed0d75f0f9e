import escapeHtml from 'escape-html';
import { EXPLORER_STYLE } from './explorer-script.js';

export { escapeHtml };

// Inline, so the report opens from disk with no network and prints cleanly.
const STYLE = `
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1600px; padding: 0 1.5rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { font-size: 1.25rem; margin-top: 2rem; border-bottom: 1px solid #ddd; padding-bottom: .2rem; } h3 { font-size: 1.05rem; }
.muted { color: #555; } code { font-size: .9em; background: #f4f4f4; padding: 0 .25em; border-radius: 3px; }
table { border-collapse: collapse; margin: .5rem 0 1rem; font-size: .85rem; width: 100%; } th, td { border: 1px solid #ddd; padding: .2rem .35rem; text-align: right; } th { background: #f6f6f6; font-weight: 600; } td { white-space: nowrap; } td:first-child, td.text { white-space: normal; }
td:first-child, th:first-child, td.text { text-align: left; }
table.sortable th { cursor: pointer; user-select: none; } table.sortable th::after { content: " ⇅"; color: #aaa; font-size: .8em; }
.rose { color: #542788; } .fell { color: #b35806; }
.views { display: flex; flex-wrap: wrap; gap: 1rem; align-items: flex-start; } figure { margin: 0; } figure object { max-width: 100%; display: block; }
figcaption { font-size: .8rem; color: #555; } figcaption a { color: #555; }
details { margin: .5rem 0 1rem; } dl { font-size: .9rem; } dt { font-weight: 600; margin-top: .4rem; }
nav { margin-bottom: 1rem; font-size: .9rem; }
ul.answer { font-size: 1.05rem; } ul.answer li { margin: .3rem 0; } table.findings td { white-space: normal; vertical-align: top; } .undefined { color: #555; font-style: italic; }
@media print { body { margin: 0; max-width: none; } nav, figcaption a { display: none; } figure, table { break-inside: avoid; } h2 { break-after: avoid; } }
`;

// Sorts a table by the clicked column, numbers by value; no library, no network.
const SORT_SCRIPT = `
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, column) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      var ascending = th.getAttribute('data-order') !== 'asc';
      rows.sort(function (a, b) {
        var x = a.cells[column].getAttribute('data-value') || a.cells[column].textContent;
        var y = b.cells[column].getAttribute('data-value') || b.cells[column].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var order = !isNaN(nx) && !isNaN(ny) ? nx - ny : String(x).localeCompare(String(y));
        return ascending ? order : -order;
      });
      th.setAttribute('data-order', ascending ? 'asc' : 'desc');
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
});
`;

export function page(title: string, body: string, withSorting = false): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}${EXPLORER_STYLE}</style>
</head>
<body>
${body}
${withSorting ? `<script>${SORT_SCRIPT}</script>` : ''}
</body>
</html>
`;
}

/**
 * A view: the SVG file beside the page, embedded as an object (a document of its own,
 * so every cell's tooltip works) at its own size. Pages stay small and no SVG is
 * stored twice.
 */
export function figure(svg: string, file: string, caption: string): string {
  const width = /<svg[^>]*\swidth="([\d.]+)"/.exec(svg)?.[1] ?? '400';
  const height = /<svg[^>]*\sheight="([\d.]+)"/.exec(svg)?.[1] ?? '300';
  const title = /<title>([^<]*)<\/title>/.exec(svg)?.[1] ?? file;
  return `<figure class="view" data-view="${escapeHtml(file)}"><object type="image/svg+xml" data="${escapeHtml(file)}" width="${width}" height="${height}" aria-label="${title}"></object><figcaption>${escapeHtml(caption)} · <a href="${escapeHtml(file)}">open SVG</a></figcaption></figure>`;
}

/** A concept id or pair as a file name: anything but letters, digits, _ and - becomes -. */
export const slug = (text: string): string => text.replace(/[^A-Za-z0-9_-]+/g, '-');

/** A cell with no value, saying why in its tooltip. */
export const naCell = (why: string): string => `<td data-value="" class="na" title="${escapeHtml(why)}">n/a</td>`;

/** A table cell holding a number, sortable by its exact value; n/a with the reason where there is none. */
export function numberCell(value: number | null | undefined, digits = 4, signed = false, why = 'not measured: no query token of the query set, or no sequence of this concept (see summary.json)'): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return naCell(why);
  const text = signed && value > 0 ? `+${value.toFixed(digits)}` : value.toFixed(digits);
  const cls = signed ? (value > 0 ? ' class="rose"' : value < 0 ? ' class="fell"' : '') : '';
  return `<td data-value="${value}"${cls}>${text}</td>`;
}
