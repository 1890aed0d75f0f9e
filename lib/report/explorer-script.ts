// The explorer's script and style, inlined in each concept page: no library, no network.
// Reads the maps embedded beside it (uint16, the causal half row by row), draws the two
// models and their difference as SVG, and follows the pickers and the pointer.
export const EXPLORER_SCRIPT = `
(function () {
  var root = document.getElementById('explorer');
  if (!root) return;
  var data = JSON.parse(root.querySelector('.explorer-data').textContent);
  var n = data.size, NS = 'http://www.w3.org/2000/svg', cache = {};
  function values(model, layer, head) {
    var key = model + '/' + layer + '/' + head;
    if (!cache[key]) {
      var bin = atob(data.maps[key]), out = new Float64Array(bin.length / 2);
      for (var k = 0; k < out.length; k++) out[k] = (bin.charCodeAt(2 * k) | (bin.charCodeAt(2 * k + 1) << 8)) / 65535;
      cache[key] = out;
    }
    return cache[key];
  }
  function colour(stops, t) {
    t = Math.max(0, Math.min(1, t));
    var x = t * (stops.length - 1), i = Math.min(stops.length - 2, Math.floor(x)), f = x - i, out = '#';
    for (var p = 1; p < 7; p += 2) {
      var a = parseInt(stops[i].slice(p, p + 2), 16), b = parseInt(stops[i + 1].slice(p, p + 2), 16);
      out += ('0' + Math.round(a + (b - a) * f).toString(16)).slice(-2);
    }
    return out;
  }
  var logT = function (v) { return (Math.log(Math.max(v, 1e-4)) / Math.LN10 + 4) / 4; };
  var pick = {};
  ['layer', 'head', 'after', 'before'].forEach(function (name) { pick[name] = root.querySelector('.pick-' + name); });
  function options(select, items, value) {
    select.innerHTML = '';
    items.forEach(function (item) { var o = document.createElement('option'); o.value = o.textContent = item; select.appendChild(o); });
    select.value = items.indexOf(String(value)) >= 0 ? String(value) : items[0];
  }
  options(pick.layer, data.layers.map(String), data.layer);
  options(pick.after, data.models, data.after);
  options(pick.before, data.models, data.before);
  function heads() { options(pick.head, data.heads[pick.layer.value], pick.head.value || 'mean'); }
  heads();
  // The tokens of the text, each a span: hover one to follow it.
  var strip = root.querySelector('.tokens'), spans = [];
  data.tokens.forEach(function (token, t) {
    var span = document.createElement('span');
    span.textContent = token;
    span.className = 'token' + (data.concept.indexOf(t) >= 0 ? ' concept' : '');
    span.setAttribute('data-t', t);
    strip.appendChild(span);
    spans.push(span);
  });
  var cell = Math.max(2, Math.floor(360 / n)), side = n * cell, panelsRoot = root.querySelector('.panels');
  var panels = ['after', 'before', 'difference'].map(function (name) {
    var figure = document.createElement('figure'), caption = document.createElement('figcaption'), legend = document.createElement('div');
    figure.className = 'panel panel-' + name;
    legend.className = 'legend';
    var svg = document.createElementNS(NS, 'svg');
    svg.setAttribute('width', side); svg.setAttribute('height', side); svg.setAttribute('viewBox', '0 0 ' + side + ' ' + side);
    var rects = [];
    for (var r = 0; r < n; r++) for (var c = 0; c <= r; c++) {
      var rect = document.createElementNS(NS, 'rect');
      rect.setAttribute('x', c * cell); rect.setAttribute('y', r * cell); rect.setAttribute('width', cell); rect.setAttribute('height', cell);
      rect.setAttribute('data-r', r); rect.setAttribute('data-c', c);
      svg.appendChild(rect); rects.push(rect);
    }
    var marks = ['hl-row', 'hl-col'].map(function (cls) {
      var m = document.createElementNS(NS, 'rect');
      m.setAttribute('class', cls); m.setAttribute('fill', 'none'); m.setAttribute('stroke', '#d00'); m.setAttribute('visibility', 'hidden');
      m.setAttribute('width', cls === 'hl-row' ? side : cell); m.setAttribute('height', cls === 'hl-row' ? cell : side);
      svg.appendChild(m);
      return m;
    });
    figure.appendChild(caption); figure.appendChild(svg); figure.appendChild(legend); panelsRoot.appendChild(figure);
    return { rects: rects, marks: marks, caption: caption, legend: legend };
  });
  var shown = {};
  function draw() {
    var a = values(pick.after.value, pick.layer.value, pick.head.value), b = values(pick.before.value, pick.layer.value, pick.head.value);
    var extent = 1e-9, k, r = 0, c = 0, column = [];
    for (k = 0; k < a.length; k++) {
      column.push(c);
      if (c > 0) extent = Math.max(extent, Math.abs(a[k] - b[k]));
      if (c === r) { r++; c = 0; } else c++;
    }
    for (k = 0; k < a.length; k++) {
      var d = a[k] - b[k];
      panels[0].rects[k].setAttribute('fill', colour(data.ramps.attention, logT(a[k]))); panels[0].rects[k].setAttribute('data-value', a[k].toPrecision(4));
      panels[1].rects[k].setAttribute('fill', colour(data.ramps.attention, logT(b[k]))); panels[1].rects[k].setAttribute('data-value', b[k].toPrecision(4));
      panels[2].rects[k].setAttribute('fill', colour(data.ramps.difference, 0.5 + d / (2 * extent))); panels[2].rects[k].setAttribute('data-value', d.toPrecision(4));
    }
    var which = 'layer ' + pick.layer.value + ', ' + (pick.head.value === 'mean' ? 'mean over heads' : 'head ' + pick.head.value);
    panels[0].caption.textContent = pick.after.value + ': ' + which;
    panels[1].caption.textContent = pick.before.value + ': ' + which;
    panels[2].caption.textContent = pick.after.value + ' − ' + pick.before.value + ': ' + which;
    panels[0].legend.textContent = panels[1].legend.textContent = 'log scale: dark 10⁻⁴ or less … yellow 1';
    panels[2].legend.textContent = 'purple: more, orange: less; ±' + extent.toPrecision(2) + ' (every key but the sink column; the sink saturates)';
    shown = { a: a, b: b };
  }
  var cellOf = function (t) { return Math.floor(t / data.block); };
  var at = function (r, c) { return (r * (r + 1)) / 2 + c; };
  function name(cell) {
    if (data.block === 1) return cell + ' ' + JSON.stringify(data.tokens[cell]);
    return 'tokens ' + cell * data.block + '–' + (Math.min(data.tokens.length, (cell + 1) * data.block) - 1);
  }
  function highlight(r, c) {
    panels.forEach(function (p) {
      p.marks[0].setAttribute('y', r * cell); p.marks[0].setAttribute('visibility', 'visible');
      p.marks[1].setAttribute('x', c * cell); p.marks[1].setAttribute('visibility', 'visible');
    });
    spans.forEach(function (s, t) {
      s.classList.toggle('hl-query', cellOf(t) === r);
      s.classList.toggle('hl-key', cellOf(t) === c);
    });
    var readout = root.querySelector('.readout');
    if (c > r) { readout.textContent = 'query ' + name(r) + ': hover a cell at or left of the diagonal for a key'; return; }
    var k = at(r, c);
    readout.textContent = 'query ' + name(r) + ' → key ' + name(c) + ': ' + pick.after.value + ' ' + shown.a[k].toPrecision(4) + ', ' + pick.before.value + ' ' + shown.b[k].toPrecision(4) + ', Δ ' + (shown.a[k] - shown.b[k]).toPrecision(3);
  }
  strip.addEventListener('mouseover', function (e) {
    var t = e.target.getAttribute && e.target.getAttribute('data-t');
    if (t !== null && t !== undefined) highlight(cellOf(Number(t)), cellOf(Number(t)));
  });
  panelsRoot.addEventListener('mouseover', function (e) {
    var r = e.target.getAttribute && e.target.getAttribute('data-r');
    if (r !== null && r !== undefined) highlight(Number(r), Number(e.target.getAttribute('data-c')));
  });
  pick.layer.addEventListener('change', function () { heads(); draw(); });
  [pick.head, pick.after, pick.before].forEach(function (s) { s.addEventListener('change', draw); });
  draw();
})();
`;

export const EXPLORER_STYLE = `
.explorer .controls label { margin-right: 1rem; font-size: .9rem; }
.explorer .tokens { margin: .5rem 0; line-height: 1.8; font-size: .85rem; max-height: 12rem; overflow-y: auto; }
.explorer .token { padding: 1px 2px; margin: 0 1px; border-radius: 2px; cursor: default; background: #f4f4f4; }
.explorer .token.concept { font-weight: 700; text-decoration: underline; }
.explorer .token.hl-query { background: #fdd; } .explorer .token.hl-key { outline: 2px solid #d00; }
.explorer .panels { display: flex; flex-wrap: wrap; gap: 1rem; } .explorer .panel figcaption { font-size: .85rem; } .explorer .legend { font-size: .75rem; color: #555; max-width: 380px; }
.explorer .readout { min-height: 1.4em; font-size: .85rem; }
`;
