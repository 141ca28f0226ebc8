// html_assets.hpp - the style sheet and script inlined into every HTML report.
//
// The page must open from a file, offline, in any browser: no external script, font or image, and
// a Content-Security-Policy that forbids the page from loading anything. The script reads the
// flame-graph data from a <script type="application/json" id="fg-data"> element:
//   {"metrics": ["outstanding", "leaked", "reclaimed"], "metric": M,
//    "frames": [[label, "file:line", module, isKey], ...],
//    "nodes": [[parent, frame, outstanding, leaked, reclaimed], ...]}
// Node 0 is the root (parent -1, frame -1); its children are the keys by name, then the stacks'
// frames from the outermost in; a node's figures are the bytes of every stack through it. A
// parent always comes before its children.
#pragma once

namespace nm::report::detail {

inline constexpr const char *kHtmlStyle = R"CSS(
:root { --fg: #1d2330; --muted: #5d6677; --line: #d8dde6; --bg: #ffffff; --band: #f4f6f9;
        --leak: #b3261e; --out: #9a6700; --rec: #1f6feb; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       background: var(--bg); margin: 0 auto; padding: 16px 24px 48px; max-width: 1600px; }
h1 { font-size: 22px; margin: 4px 0 2px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.meta { color: var(--muted); margin: 0 0 10px; }
.cards { display: flex; gap: 12px; flex-wrap: wrap; margin: 12px 0; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 8px 14px; min-width: 170px; background: var(--band); }
.card b { display: block; font-size: 20px; }
.card.leak b { color: var(--leak); } .card.out b { color: var(--out); } .card.rec b { color: var(--rec); }
.card.over b { color: var(--leak); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: right; white-space: nowrap; }
th { background: var(--band); cursor: pointer; user-select: none; position: sticky; top: 0; }
th:first-child, td:first-child, td.l, th.l { text-align: left; }
tr.bad td.lk { color: var(--leak); font-weight: 600; }
.stack { font: 12px/1.5 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; margin: 4px 0 10px 18px; padding: 0; list-style: none; }
.stack li { white-space: pre; overflow-x: auto; }
.stack .fn { font-weight: 600; } .stack .src { color: #0a6640; } .stack .mod { color: var(--muted); }
details { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 4px 10px; }
details > summary { cursor: pointer; }
.tag { display: inline-block; border-radius: 4px; padding: 0 6px; font-size: 12px; color: #fff; margin-right: 6px; }
.tag.leaked { background: var(--leak); } .tag.outstanding { background: var(--out); } .tag.reclaimed { background: var(--rec); }
.note { color: var(--muted); font-style: italic; }
#fg-controls { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin: 6px 0; }
#fg-controls input { width: 320px; padding: 3px 6px; }
#fg-match { color: var(--muted); }
#fg-wrap { position: relative; border: 1px solid var(--line); border-radius: 6px; overflow: hidden; }
#fg-svg { display: block; width: 100%; font: 12px ui-monospace, "DejaVu Sans Mono", Menlo, monospace; }
#fg-svg g.n { cursor: pointer; }
#fg-svg rect { stroke: #fff; stroke-width: 0.5; }
#fg-svg g.anc rect { fill: #dde1e8; }
#fg-svg g.hit rect { fill: #e040fb; }
#fg-svg g.n:hover rect { stroke: #000; stroke-width: 1; }
#fg-svg text { pointer-events: none; fill: #111; }
#fg-tip { position: absolute; display: none; pointer-events: none; background: #fffff4; border: 1px solid #999;
          border-radius: 4px; padding: 6px 8px; font-size: 12px; max-width: 620px; box-shadow: 0 2px 6px rgba(0,0,0,.15); }
#fg-tip .t { font-weight: 600; word-break: break-all; }
#fg-empty { padding: 18px; color: var(--muted); }
)CSS";

inline constexpr const char *kHtmlScript = R"JS(
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('fg-data').textContent);
  var svg = document.getElementById('fg-svg'), tip = document.getElementById('fg-tip');
  var metricSel = document.getElementById('fg-metric'), keySel = document.getElementById('fg-key');
  var search = document.getElementById('fg-search'), matchOut = document.getElementById('fg-match');
  var frames = data.frames, nodes = data.nodes, count = nodes.length;
  var parent = new Int32Array(count), frame = new Int32Array(count), depth = new Int32Array(count);
  var vals = [new Float64Array(count), new Float64Array(count), new Float64Array(count)];
  var kids = new Array(count);
  for (var i = 0; i < count; i++) {
    var nd = nodes[i];
    parent[i] = nd[0]; frame[i] = nd[1];
    vals[0][i] = nd[2]; vals[1][i] = nd[3]; vals[2][i] = nd[4];
    kids[i] = [];
    if (nd[0] >= 0) { kids[nd[0]].push(i); depth[i] = depth[nd[0]] + 1; }
  }
  var metric = data.metric, zoom = 0, hits = null, rowH = 18;

  function fmt(b) {
    var u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'], k = 0;
    while (b >= 1024 && k < u.length - 1) { b /= 1024; k++; }
    return (k ? b.toFixed(b < 10 ? 2 : 1) : String(b)) + ' ' + u[k];
  }
  function exact(b) { return String(b).replace(/\B(?=(\d{3})+(?!\d))/g, ','); }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }
  function label(n) { return n === 0 ? 'all keys' : frames[frame[n]][0]; }
  function pct(a, b) { return b > 0 ? (100 * a / b).toFixed(a === b ? 0 : 1) + '%' : '-'; }
  function hue(s) {
    var h = 0;
    for (var i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
    return Math.abs(h);
  }
  function color(n) {
    if (n === 0) return '#c9ced8';
    var f = frames[frame[n]];
    var h = hue(f[0]);
    if (f[3]) return 'hsl(' + (200 + h % 30) + ',55%,' + (68 + h % 10) + '%)';
    return 'hsl(' + (h % 45) + ',' + (70 + h % 20) + '%,' + (58 + (h >> 3) % 14) + '%)';
  }
  function sortKids() {
    var v = vals[metric];
    for (var i = 0; i < count; i++)
      if (kids[i].length > 1) kids[i].sort(function (a, b) { return v[b] - v[a] || a - b; });
  }

  function render() {
    var v = vals[metric];
    if (v[zoom] <= 0) zoom = 0;
    var width = Math.max(svg.clientWidth || 0, 600);
    var out = [], maxDepth = 0;
    var chain = [];
    for (var a = zoom; a >= 0; a = parent[a]) chain.unshift(a);
    function box(n, x, w, d, cls) {
      var y = d * rowH, chars = Math.floor((w - 6) / 7.2), name = label(n), text = '';
      if (chars >= 3) text = name.length > chars ? name.slice(0, chars - 1) + '\u2026' : name;
      out.push('<g class="n' + cls + (hits && hits[n] ? ' hit' : '') + '" data-i="' + n +
               '" aria-label="' + esc(name) + '"><rect x="' + x.toFixed(1) + '" y="' + y +
               '" width="' + Math.max(w - 0.5, 0.5).toFixed(1) + '" height="' + (rowH - 1) +
               '" fill="' + color(n) + '"/>' +
               (text ? '<text x="' + (x + 3).toFixed(1) + '" y="' + (y + 13) + '">' + esc(text) + '</text>' : '') +
               '</g>');
      if (d > maxDepth) maxDepth = d;
    }
    if (v[0] <= 0) {
      svg.innerHTML = '';
      svg.setAttribute('height', 0);
      document.getElementById('fg-empty').style.display = 'block';
      svg.setAttribute('data-rendered', '0');
      return;
    }
    document.getElementById('fg-empty').style.display = 'none';
    for (var c = 0; c < chain.length - 1; c++) box(chain[c], 0, width, c, ' anc');
    var scale = width / v[zoom], base = chain.length - 1;
    var drawn = 0;
    (function walk(n, x, d) {
      var w = v[n] * scale;
      if (w < 0.5) return;
      box(n, x, w, d, '');
      drawn++;
      var cx = x, ks = kids[n];
      for (var k = 0; k < ks.length; k++) {
        if (v[ks[k]] <= 0) continue;
        walk(ks[k], cx, d + 1);
        cx += v[ks[k]] * scale;
      }
    })(zoom, 0, base);
    svg.setAttribute('height', (maxDepth + 1) * rowH);
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + (maxDepth + 1) * rowH);
    svg.innerHTML = out.join('');
    svg.setAttribute('data-rendered', String(drawn));
    keySel.value = String(chain.length > 1 ? chain[1] : 0);
    showMatches();
  }

  function showMatches() {
    if (!hits) { matchOut.textContent = ''; return; }
    var v = vals[metric], total = 0, frameSet = {}, n = 0;
    // Bytes under a matching frame count once, at the outermost match; every matching frame
    // counts in the number shown.
    (function walk(i, under) {
      if (v[i] <= 0) return;
      if (hits[i]) { frameSet[frame[i]] = 1; if (!under) total += v[i]; }
      for (var k = 0; k < kids[i].length; k++) walk(kids[i][k], under || hits[i]);
    })(zoom, 0);
    for (var f in frameSet) n++;
    matchOut.textContent = n === 0 ? 'no frame matches' :
      n + (n === 1 ? ' frame matches: ' : ' frames match: ') + fmt(total) + ' (' + exact(total) +
      ' bytes), ' + pct(total, v[zoom]) + ' of ' + (zoom === 0 ? 'the total' : label(zoom));
  }

  function applySearch() {
    var q = search.value.trim().toLowerCase();
    if (!q) { hits = null; render(); return; }
    var frameHit = new Uint8Array(frames.length);
    for (var f = 0; f < frames.length; f++) {
      var fr = frames[f];
      frameHit[f] = (fr[0] + '\n' + fr[1] + '\n' + fr[2]).toLowerCase().indexOf(q) >= 0 ? 1 : 0;
    }
    hits = new Uint8Array(count);
    for (var i = 1; i < count; i++) hits[i] = frameHit[frame[i]];
    render();
  }

  svg.addEventListener('click', function (e) {
    var g = e.target.closest('g.n');
    if (!g) return;
    zoom = +g.getAttribute('data-i');
    render();
  });
  svg.addEventListener('mousemove', function (e) {
    var g = e.target.closest('g.n');
    if (!g) { tip.style.display = 'none'; return; }
    var n = +g.getAttribute('data-i'), v = vals[metric];
    var f = n === 0 ? ['all keys', '', '', 0] : frames[frame[n]];
    var lines = ['<div class="t">' + esc(f[0]) + '</div>'];
    if (f[1]) lines.push(esc(f[1]));
    if (f[2]) lines.push('<span style="color:#666">' + esc(f[2]) + '</span>');
    lines.push('<b>' + fmt(v[n]) + '</b> ' + data.metrics[metric] + ' (' + exact(v[n]) + ' bytes): ' +
               pct(v[n], v[0]) + ' of all' + (zoom !== 0 ? ', ' + pct(v[n], v[zoom]) + ' of ' + esc(label(zoom)) : ''));
    var others = [];
    for (var m = 0; m < 3; m++) if (m !== metric && vals[m][n] > 0) others.push(data.metrics[m] + ' ' + fmt(vals[m][n]));
    if (others.length) lines.push(others.join(', '));
    tip.innerHTML = lines.join('<br>');
    tip.style.display = 'block';
    var r = svg.parentNode.getBoundingClientRect();
    var x = e.clientX - r.left + 14, y = e.clientY - r.top + 14;
    if (x + tip.offsetWidth > r.width) x = Math.max(0, r.width - tip.offsetWidth - 4);
    tip.style.left = x + 'px';
    tip.style.top = y + 'px';
  });
  svg.addEventListener('mouseleave', function () { tip.style.display = 'none'; });
  metricSel.addEventListener('change', function () { metric = +metricSel.value; sortKids(); render(); });
  keySel.addEventListener('change', function () { zoom = +keySel.value; render(); });
  search.addEventListener('input', applySearch);
  document.getElementById('fg-reset').addEventListener('click', function () { zoom = 0; render(); });
  window.addEventListener('resize', render);

  // Keys, for the selector: the root's children, biggest first across all metrics.
  var keyNodes = kids[0].slice().sort(function (a, b) {
    return (vals[0][b] + vals[1][b] + vals[2][b]) - (vals[0][a] + vals[1][a] + vals[2][a]);
  });
  keyNodes.forEach(function (n) {
    var o = document.createElement('option');
    o.value = String(n);
    o.textContent = label(n);
    keySel.appendChild(o);
  });
  metricSel.value = String(metric);
  // The URL's fragment can open a view: #metric=outstanding&key=http&search=parse
  var params = new URLSearchParams(location.hash.slice(1));
  var wanted = data.metrics.indexOf(params.get('metric') || '');
  if (wanted >= 0) { metric = wanted; metricSel.value = String(metric); }
  if (params.get('key'))
    keyNodes.forEach(function (n) { if (label(n) === params.get('key')) zoom = n; });
  if (params.get('search')) search.value = params.get('search');
  sortKids();
  if (search.value) applySearch(); else render();

  // Sortable tables: click a header to sort by that column, again to reverse.
  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener('click', function () {
        var dir = th.getAttribute('data-dir') === 'desc' ? 1 : -1;
        th.setAttribute('data-dir', dir < 0 ? 'desc' : 'asc');
        var rows = Array.prototype.slice.call(table.tBodies[0].rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].getAttribute('data-v'), y = b.cells[col].getAttribute('data-v');
          if (x !== null && y !== null) return dir * (x - y);
          return dir * a.cells[col].textContent.localeCompare(b.cells[col].textContent);
        });
        rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
      });
    });
  });
})();
)JS";

} // namespace nm::report::detail
