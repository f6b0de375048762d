// perfprobe flamegraph viewer.
//
// Everything the page needs is inline: this script, the stylesheet and the
// profile, a JSON block in the script element with the id perfprobe-data.
// Nothing is fetched.
//
// Function names are untrusted input. They reach the DOM only through
// textContent and the canvas only through fillText; no HTML is ever built
// from strings here.
//
// Data (written by html.go):
//   names      string table of function names
//   nodes      prefix tree of root-first stacks in pre-order, two integers per
//              node after the implicit root: name index, depth (root = 0)
//   values[t]  self values of sample type t as pairs (node index minus the
//              previous pair's node index, value / types[t].scale)
//   baseValues the same for the base profile of a differential page
//
// The tree is shared by all sample types; each type's cumulative values and
// layout are computed the first time that type is shown.
//
// Differential rendering works on any tree that has base values (baseSelf,
// baseCum, baseTotal): colours, tooltip, function table, search and sandwich
// then compare each frame's share of total with its share of the base total.
// On a differential page (data.diff) the base is the other profile. On a
// normal page the "Compare with" control makes another sample type B of the
// same unit the base of the shown type A: since all types share one tree,
// B's values are simply another column of it, and the compared tree is A's
// tree with B's values as its base (compareTree). The URL fragment
// #type=A&compare=B opens the page in that state and follows the controls.
(function () {
  'use strict';

  // ---- Constants (CSS pixels) ---------------------------------------------
  const ROW = 18; // height of a frame row
  const MIN_WIDTH = 0.5; // narrower frames, and so their subtrees, are not drawn
  const LABEL_MIN = 24; // narrower frames get no label
  const MAX_CANVAS = 32000; // device pixels; browsers refuse taller canvases
  const TABLE_ROWS = 100; // rows of the function table
  const FONT = '11px ui-monospace, Menlo, Consolas, "DejaVu Sans Mono", monospace';
  const HIGHLIGHT = 'rgb(206,84,230)'; // search matches
  const ROOT_COLOUR = 'rgb(196,196,200)';
  const UNKNOWN_COLOUR = 'rgb(185,185,185)';
  const NEUTRAL = 'rgb(232,232,232)'; // diff: no change

  const $ = (id) => document.getElementById(id);
  const timings = { scriptStart: performance.now(), parsed: 0, firstPaint: 0, lastActionMs: 0, lastRenderMs: 0 };

  const data = JSON.parse($('perfprobe-data').textContent);
  const names = data.names;
  const types = data.types;
  const diffPage = !!data.diff; // a differential page: every type has a base profile

  // ---- The shared prefix tree ---------------------------------------------

  // link derives parent and subtree end (exclusive) of each node from the
  // pre-order depths. The subtree of i is the index range [i, end[i]).
  function link(nameOf, depth) {
    const n = nameOf.length;
    const parent = new Int32Array(n), end = new Int32Array(n);
    parent[0] = -1;
    const path = [0]; // ancestors of the next node, root first
    for (let i = 1; i < n; i++) {
      const d = depth[i];
      while (path.length > d) end[path.pop()] = i;
      parent[i] = path[path.length - 1];
      path.push(i);
    }
    while (path.length) end[path.pop()] = n;
    return { n, nameOf, depth, parent, end };
  }

  const shape = (function () {
    const flat = data.nodes;
    const n = flat.length / 2 + 1;
    const nameOf = new Int32Array(n), depth = new Int32Array(n);
    nameOf[0] = -1;
    for (let i = 1; i < n; i++) {
      nameOf[i] = flat[2 * i - 2];
      depth[i] = flat[2 * i - 1];
    }
    data.nodes = null; // the typed arrays hold it now
    return link(nameOf, depth);
  })();
  timings.parsed = performance.now();

  function decodeValues(pairs, scale, n) {
    const self = new Float64Array(n);
    for (let j = 0, i = 0; j < pairs.length; j += 2) {
      i += pairs[j];
      self[i] += pairs[j + 1] * scale;
    }
    return self;
  }

  function sumUp(self, parent) {
    const cum = Float64Array.from(self);
    for (let i = cum.length - 1; i > 0; i--) cum[parent[i]] += cum[i];
    return cum;
  }

  // layout computes cumulative values, the x offset of each node (in value
  // units, children left to right in tree order) and the tree's extent.
  function layout(t) {
    const n = t.n, parent = t.parent, depth = t.depth;
    const cum = (t.cum = sumUp(t.self, parent));
    t.baseCum = t.baseSelf ? sumUp(t.baseSelf, parent) : null;
    const x = new Float64Array(n), next = new Float64Array(n);
    let maxDepth = 0, frames = 0;
    for (let i = 0; i < n; i++) {
      if (i > 0) {
        const p = parent[i];
        x[i] = next[p];
        next[p] += cum[i];
      }
      next[i] = x[i];
      if (cum[i] > 0) {
        frames++;
        if (depth[i] > maxDepth) maxDepth = depth[i];
      }
    }
    t.x = x;
    t.maxDepth = maxDepth;
    t.frames = frames; // nodes with a non-zero value, the root included
    t.maxDelta = maxDeltaOf(t);
    return t;
  }

  // maxDeltaOf is the largest change of share, in points, of a frame with a
  // width (0 without base values): the colour scale of a differential.
  function maxDeltaOf(t) {
    if (!t.baseCum) return 0;
    let m = 0;
    for (let i = 0; i < t.n; i++) {
      if (t.cum[i] > 0) m = Math.max(m, Math.abs(deltaPoints(t, i)));
    }
    return m;
  }

  // typeTree returns the tree of sample type k, built on first use. On a
  // differential page it carries the base profile's values of type k.
  const typeTrees = [];
  function typeTree(k) {
    if (typeTrees[k]) return typeTrees[k];
    const ty = types[k];
    const t = Object.assign({}, shape, {
      type: ty,
      rootLabel: 'all',
      total: ty.total,
      baseTotal: ty.baseTotal || 0,
      baseName: 'base', // what the base is called in texts
      baseType: null, // the compared sample type, on a normal page
      self: decodeValues(data.values[k], ty.scale, shape.n),
      baseSelf: diffPage ? decodeValues(data.baseValues[k], ty.baseScale, shape.n) : null,
    });
    return (typeTrees[k] = layout(t));
  }

  // comparable tells whether type b can be the base of type k on a normal
  // page: another type of the same unit (shares of the same kind of thing).
  const comparable = (k, b) =>
    !diffPage && b >= 0 && b < types.length && b !== k && types[b].unit === types[k].unit;

  // compareTree returns type k's tree with type b's values as its base. It
  // shares every array with the two type trees (the shape, widths and layout
  // are k's, the base values b's column of the same tree); only the colour
  // scale and the function statistics are its own.
  const compareTrees = new Map();
  function compareTree(k, b) {
    const key = k * types.length + b;
    let t = compareTrees.get(key);
    if (t === undefined) {
      const base = typeTree(b);
      t = Object.assign({}, typeTree(k), {
        baseTotal: base.total,
        baseName: types[b].name,
        baseType: types[b],
        baseSelf: base.self,
        baseCum: base.cum,
        stats: null, // funcStats of k alone has no base totals
      });
      t.maxDelta = maxDeltaOf(t);
      compareTrees.set(key, t);
    }
    return t;
  }

  const label = (t, i) => (t.nameOf[i] < 0 ? t.rootLabel : names[t.nameOf[i]]);
  const live = (t, i) => t.cum[i] > 0 || (!!t.baseCum && t.baseCum[i] > 0);
  const share = (t, i) => (t.total > 0 ? t.cum[i] / t.total : 0);
  const baseShare = (t, i) => (t.baseTotal > 0 ? t.baseCum[i] / t.baseTotal : 0);
  // deltaPoints is the change of a frame's share of its type, in percentage points.
  const deltaPoints = (t, i) => 100 * (share(t, i) - baseShare(t, i));

  // ---- Formatting ---------------------------------------------------------

  function sig(x) {
    const a = Math.abs(x);
    return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
  }
  function fmtCount(v) {
    return Math.round(v).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  }
  function fmtValue(v, unit) {
    const a = Math.abs(v);
    switch (unit) {
      case 'nanoseconds':
        if (a < 1e3) return Math.round(v) + ' ns';
        if (a < 1e6) return sig(v / 1e3) + ' \u00b5s';
        if (a < 1e9) return sig(v / 1e6) + ' ms';
        return sig(v / 1e9) + ' s';
      case 'bytes':
        if (a < 1024) return Math.round(v) + ' B';
        if (a < 1024 * 1024) return sig(v / 1024) + ' KiB';
        if (a < 1024 * 1024 * 1024) return sig(v / 1024 / 1024) + ' MiB';
        return sig(v / 1024 / 1024 / 1024) + ' GiB';
      case 'count':
      case '':
        return fmtCount(v);
      default:
        return fmtCount(v) + ' ' + unit;
    }
  }
  function pct(fraction) {
    const p = 100 * fraction;
    return (p > 0 && p < 0.1 ? p.toFixed(2) : p.toFixed(1)) + '%';
  }
  function fmtPoints(points) {
    const s = Math.abs(points).toFixed(1);
    return (points < 0 && s !== '0.0' ? '-' : '+') + s + ' pts';
  }

  // ---- Colours ------------------------------------------------------------

  // paletteColour gives a name a stable warm colour (kernel frames a cool
  // one) from a hash, quantized so that frames batch into few fill calls.
  function paletteColour(name) {
    if (name === '[unknown]') return UNKNOWN_COLOUR;
    let h = 2166136261;
    for (let i = 0; i < name.length; i++) {
      h ^= name.charCodeAt(i);
      h = Math.imul(h, 16777619);
    }
    h >>>= 0;
    const a = (h & 15) / 15, b = ((h >>> 4) & 3) / 3;
    if (name.endsWith('_[k]')) {
      return rgb(120 + 50 * b, 190 + 35 * a, 215);
    }
    return rgb(215 + 40 * b, 75 + 150 * a, 35 + 40 * b);
  }
  const rgb = (r, g, b) => 'rgb(' + Math.round(r) + ',' + Math.round(g) + ',' + Math.round(b) + ')';
  const nameColour = names.map(paletteColour);

  // diffColour: red when the frame's share grew, blue when it shrank; ten
  // steps of intensity, the strongest at the largest change in the tree (or
  // at 1 point, if every change is smaller).
  function diffColour(t, i) {
    const d = deltaPoints(t, i);
    if (Math.abs(d) < 0.05) return NEUTRAL;
    const level = Math.max(1, Math.ceil(10 * Math.min(1, Math.abs(d) / Math.max(t.maxDelta, 1))));
    const c = 232 - 13 * level; // at most rgb(255,102,102): labels stay readable
    return d > 0 ? rgb(255, c, c) : rgb(c, c, 255);
  }

  function colourOf(t, i) {
    const f = t.nameOf[i];
    if (matchName !== null && f >= 0 && matchName[f]) return HIGHLIGHT;
    if (t.baseCum) return diffColour(t, i);
    return f < 0 ? ROOT_COLOUR : nameColour[f];
  }

  // ---- Search -------------------------------------------------------------

  let query = '';
  let matchName = null; // Uint8Array over names, or null without a search

  // compile: /re/flags is a regular expression if it parses; anything else
  // is a substring, case-insensitive unless it has an upper-case letter.
  function compile(q) {
    if (q === '') return null;
    const m = /^\/(.+)\/([imsu]*)$/.exec(q);
    if (m) {
      try {
        return new RegExp(m[1], m[2]);
      } catch (e) {
        // Not a valid expression: search for the text as typed.
      }
    }
    if (q === q.toLowerCase()) return { test: (s) => s.toLowerCase().includes(q) };
    return { test: (s) => s.includes(q) };
  }

  function setQuery(q) {
    query = q;
    const m = compile(q);
    matchName = m === null ? null : Uint8Array.from(names, (s) => (m.test(s) ? 1 : 0));
  }

  // matchStats counts the matching frames and the value of the stacks with
  // a match, each stack once however often a function recurs in it.
  function matchStats(t) {
    let value = 0, base = 0, frames = 0, covered = 0;
    for (let i = 1; i < t.n; i++) {
      if (!live(t, i)) {
        i = t.end[i] - 1; // skip the subtree: nothing in it has a value
        continue;
      }
      if (!matchName[t.nameOf[i]]) continue;
      if (t.cum[i] > 0) frames++;
      if (i >= covered) {
        value += t.cum[i];
        if (t.baseCum) base += t.baseCum[i];
        covered = t.end[i];
      }
    }
    return { value, base, frames };
  }

  // ---- Function statistics (table) ----------------------------------------

  // funcStats sums, per function name, self value and total value; a total
  // counts each stack once even when the function recurs in it.
  function funcStats(t) {
    if (t.stats) return t.stats;
    const m = names.length;
    const s = {
      self: new Float64Array(m),
      total: new Float64Array(m),
      baseTotal: t.baseCum ? new Float64Array(m) : null,
    };
    const onStack = new Int32Array(m);
    const stack = []; // ancestors of the current node, the root excluded
    for (let i = 1; i < t.n; i++) {
      if (!live(t, i)) {
        i = t.end[i] - 1;
        continue;
      }
      const d = t.depth[i];
      while (stack.length && t.depth[stack[stack.length - 1]] >= d) onStack[t.nameOf[stack.pop()]]--;
      const f = t.nameOf[i];
      s.self[f] += t.self[i];
      if (onStack[f] === 0) {
        s.total[f] += t.cum[i];
        if (s.baseTotal) s.baseTotal[f] += t.baseCum[i];
      }
      onStack[f]++;
      stack.push(i);
    }
    return (t.stats = s);
  }

  // ---- Sandwich trees -----------------------------------------------------

  // nameRank orders the names alphabetically, so that children sort by
  // comparing integers.
  let nameRankCache = null;
  function nameRank() {
    if (nameRankCache === null) {
      const ids = names.map((_, i) => i).sort((a, b) => (names[a] < names[b] ? -1 : names[a] > names[b] ? 1 : 0));
      nameRankCache = new Int32Array(names.length);
      ids.forEach((id, r) => (nameRankCache[id] = r));
    }
    return nameRankCache;
  }

  // Builder merges paths into a tree rooted at one function. Children are
  // found through one map keyed by (parent, name), not a map per node.
  class Builder {
    constructor(root, withBase) {
      this.nameOf = [root];
      this.parent = [-1];
      this.index = new Map();
      this.self = [0];
      this.baseSelf = withBase ? [0] : null;
    }
    child(p, f) {
      const key = p * names.length + f;
      let c = this.index.get(key);
      if (c === undefined) {
        c = this.nameOf.length;
        this.nameOf.push(f);
        this.parent.push(p);
        this.self.push(0);
        if (this.baseSelf) this.baseSelf.push(0);
        this.index.set(key, c);
      }
      return c;
    }
    add(i, v, bv) {
      this.self[i] += v;
      if (this.baseSelf) this.baseSelf[i] += bv;
    }
    // tree returns the merged tree in pre-order, children sorted by name.
    tree(like) {
      const n = this.nameOf.length, rank = nameRank();
      // Children of i are kids[start[i]:start[i+1]].
      const start = new Int32Array(n + 1), kids = new Int32Array(n), fill = new Int32Array(n);
      for (let i = 1; i < n; i++) start[this.parent[i] + 1]++;
      for (let i = 1; i <= n; i++) start[i] += start[i - 1];
      fill.set(start.subarray(0, n));
      for (let i = 1; i < n; i++) kids[fill[this.parent[i]]++] = i;
      const byName = (a, b) => rank[this.nameOf[a]] - rank[this.nameOf[b]];
      for (let i = 0; i < n; i++) {
        if (start[i + 1] - start[i] > 1) kids.subarray(start[i], start[i + 1]).sort(byName);
      }
      const nameOf = new Int32Array(n), depth = new Int32Array(n);
      const self = new Float64Array(n), baseSelf = this.baseSelf ? new Float64Array(n) : null;
      const stack = [0, 0]; // pairs of node, depth
      for (let k = 0; stack.length; k++) {
        const d = stack.pop(), i = stack.pop();
        nameOf[k] = this.nameOf[i];
        depth[k] = d;
        self[k] = this.self[i];
        if (baseSelf) baseSelf[k] = this.baseSelf[i];
        for (let j = start[i + 1] - 1; j >= start[i]; j--) stack.push(kids[j], d + 1);
      }
      const t = Object.assign(link(nameOf, depth), {
        type: like.type,
        rootLabel: '',
        total: like.total,
        baseTotal: like.baseTotal,
        baseName: like.baseName,
        baseType: like.baseType,
        self,
        baseSelf,
      });
      return layout(t);
    }
  }

  // buildSandwich merges every outermost occurrence of function f in tree t:
  // the callers tree holds the paths from f up to the root (f at its root),
  // the callees tree the subtrees below f.
  function buildSandwich(t, f) {
    const withBase = !!t.baseCum;
    const callers = new Builder(f, withBase), callees = new Builder(f, withBase);
    let covered = 0, found = false;
    for (let i = 1; i < t.n; i++) {
      if (!live(t, i)) {
        i = t.end[i] - 1;
        continue;
      }
      if (t.nameOf[i] !== f || i < covered) continue;
      found = true;
      covered = t.end[i];
      const bcum = withBase ? t.baseCum[i] : 0;
      let c = 0;
      for (let a = t.parent[i]; a > 0; a = t.parent[a]) c = callers.child(c, t.nameOf[a]);
      callers.add(c, t.cum[i], bcum);

      callees.add(0, t.self[i], withBase ? t.baseSelf[i] : 0);
      const at = [0]; // builder node per depth below i
      const d0 = t.depth[i];
      for (let j = i + 1; j < t.end[i]; j++) {
        if (!live(t, j)) {
          j = t.end[j] - 1;
          continue;
        }
        const rel = t.depth[j] - d0;
        const b = callees.child(at[rel - 1], t.nameOf[j]);
        at[rel] = b;
        callees.add(b, t.self[j], withBase ? t.baseSelf[j] : 0);
      }
    }
    if (!found) return null;
    return { callers: callers.tree(t), callees: callees.tree(t) };
  }

  // rootChildren lists the children of a tree's root, largest first.
  function rootChildren(t) {
    const out = [];
    for (let i = 1; i < t.n; i = t.end[i]) {
      if (t.cum[i] > 0) out.push({ name: label(t, i), value: t.cum[i] });
    }
    return out.sort((a, b) => b.value - a.value);
  }

  // ---- Rendering ----------------------------------------------------------

  // Graph draws one tree on a canvas: flame (root at the bottom) or, when
  // inverted, icicle (root at the top). It keeps the frames of the last
  // render per row, in x order, for hit testing.
  class Graph {
    constructor(canvas, inverted) {
      this.canvas = canvas;
      this.inverted = inverted;
      this.tree = null;
      this.zoom = 0;
      this.drawn = 0;
      this.highlighted = 0;
      this.rows = 0;
      this.rowNodes = [];
      this.rowX = [];
      this.rowW = [];
      canvas.addEventListener('mousemove', (e) => showTooltip(this, this.hit(e.clientX, e.clientY), e.clientX, e.clientY));
      canvas.addEventListener('mouseleave', hideTooltip);
      canvas.addEventListener('click', (e) => {
        const i = this.hit(e.clientX, e.clientY);
        if (i < 0) return;
        act(() => clickFrame(this, i));
        showTooltip(this, this.hit(e.clientX, e.clientY), e.clientX, e.clientY); // the frame under the mouse moved
      });
      canvas.addEventListener('contextmenu', (e) => {
        const i = this.hit(e.clientX, e.clientY);
        if (i >= 0 && this.tree.nameOf[i] >= 0) {
          e.preventDefault();
          act(() => openSandwich(this.tree.nameOf[i]));
        }
      });
    }

    setTree(t) {
      this.tree = t;
      this.zoom = 0;
    }

    render() {
      const t = this.tree, canvas = this.canvas;
      const dpr = window.devicePixelRatio || 1;
      const W = Math.max(200, canvas.parentElement.clientWidth);
      const rows = Math.max(1, Math.min(t.maxDepth + 1, Math.floor(MAX_CANVAS / dpr / ROW)));
      const H = rows * ROW;
      canvas.style.width = W + 'px';
      canvas.style.height = H + 'px';
      canvas.width = Math.round(W * dpr);
      canvas.height = Math.round(H * dpr);
      const ctx = canvas.getContext('2d');
      ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
      ctx.clearRect(0, 0, W, H);

      this.rows = rows;
      this.rowNodes = [];
      this.rowX = [];
      this.rowW = [];
      for (let d = 0; d < rows; d++) {
        this.rowNodes.push([]);
        this.rowX.push([]);
        this.rowW.push([]);
      }
      const fills = new Map(); // colour -> flat [x, y, w, ...]: one fill per colour
      const dimFills = new Map(); // the same for the ancestors of the zoomed frame
      const labels = []; // flat [node, x, y, w, dim]
      let drawn = 0, highlighted = 0;
      const place = (i, x, w, dim) => {
        const d = t.depth[i];
        this.rowNodes[d].push(i);
        this.rowX[d].push(x);
        this.rowW[d].push(w);
        const y = this.inverted ? d * ROW : (rows - 1 - d) * ROW;
        const colour = colourOf(t, i);
        if (colour === HIGHLIGHT) highlighted++;
        const m = dim ? dimFills : fills;
        let r = m.get(colour);
        if (r === undefined) m.set(colour, (r = []));
        r.push(x, y, w >= 3 ? w - 1 : w); // a 1px gap between wide frames
        if (w >= LABEL_MIN) labels.push(i, x, y, w, dim ? 1 : 0);
        drawn++;
      };

      let z = this.zoom;
      if (!(t.cum[z] > 0)) z = this.zoom = 0;
      const scale = W / t.cum[z], x0 = t.x[z];
      for (let a = t.parent[z]; a >= 0; a = t.parent[a]) {
        if (t.depth[a] < rows) place(a, 0, W, true);
      }
      for (let i = z, stop = t.end[z]; i < stop; ) {
        const w = t.cum[i] * scale;
        if (!(w >= MIN_WIDTH) || t.depth[i] >= rows) {
          i = t.end[i]; // its children are narrower still
          continue;
        }
        place(i, (t.x[i] - x0) * scale, w, false);
        i++;
      }
      // Ancestors were placed before their (deeper) rows filled, and each is
      // alone in its row, so every row is in x order.

      const fill = (m) => {
        for (const [colour, r] of m) {
          ctx.fillStyle = colour;
          ctx.beginPath();
          for (let k = 0; k < r.length; k += 3) ctx.rect(r[k], r[k + 1], r[k + 2], ROW - 1);
          ctx.fill();
        }
      };
      fill(fills);
      ctx.globalAlpha = 0.5;
      fill(dimFills);
      ctx.globalAlpha = 1;

      ctx.font = FONT;
      ctx.textBaseline = 'middle';
      const cw = ctx.measureText('m').width || 7;
      for (let k = 0; k < labels.length; k += 5) {
        const i = labels[k], x = labels[k + 1], y = labels[k + 2], w = labels[k + 3];
        const max = Math.floor((w - 6) / cw);
        if (max < 2) continue;
        let s = label(t, i);
        if (s.length > max) s = s.slice(0, max - 1) + '\u2026';
        ctx.fillStyle = labels[k + 4] ? '#555' : '#111';
        ctx.fillText(s, x + 3, y + ROW / 2);
      }
      this.drawn = drawn;
      this.highlighted = highlighted;
    }

    // hit returns the frame under a client point, or -1.
    hit(cx, cy) {
      if (!this.tree) return -1;
      const r = this.canvas.getBoundingClientRect();
      const x = cx - r.left, row = Math.floor((cy - r.top) / ROW);
      if (row < 0 || row >= this.rows) return -1;
      const d = this.inverted ? row : this.rows - 1 - row;
      const xs = this.rowX[d], ws = this.rowW[d];
      let lo = 0, hi = xs.length - 1, found = -1;
      while (lo <= hi) {
        const mid = (lo + hi) >> 1;
        if (xs[mid] <= x) {
          found = mid;
          lo = mid + 1;
        } else hi = mid - 1;
      }
      if (found < 0 || x > xs[found] + ws[found]) return -1;
      return this.rowNodes[d][found];
    }

    // rectOf returns where frame i was drawn, in client coordinates, or null.
    rectOf(i) {
      const d = this.tree.depth[i];
      if (d >= this.rows) return null;
      const k = this.rowNodes[d].indexOf(i);
      if (k < 0) return null;
      const r = this.canvas.getBoundingClientRect();
      const y = this.inverted ? d * ROW : (this.rows - 1 - d) * ROW;
      return { x: r.left + this.rowX[d][k], y: r.top + y, w: this.rowW[d][k], h: ROW };
    }

    inZoom(i) {
      return i >= this.zoom && i < this.tree.end[this.zoom];
    }
  }

  // ---- Page state ---------------------------------------------------------

  const typeSelect = $('type'), searchInput = $('search'), tooltip = $('tooltip'), details = $('details');
  const compareSelect = $('compare'); // null on a differential page
  const mainGraph = new Graph($('flame'), false);
  const callersGraph = new Graph($('callers'), false); // callers grow upwards from the function
  const calleesGraph = new Graph($('callees'), true); // callees grow downwards from it
  let typeIdx = Math.min(Math.max(0, data.defaultType | 0), types.length - 1);
  let view = 'flame'; // 'flame', 'icicle' or 'sandwich'
  let mainView = 'flame'; // the view to go back to from a sandwich
  let sandwichOf = -1; // name index shown in the sandwich view
  let selected = null; // {graph, node} of the frame in the details bar
  let compareIdx = -1; // the sample type the shown one is compared with, or -1
  let tableDirty = true;

  const currentTree = () => (compareIdx >= 0 ? compareTree(typeIdx, compareIdx) : typeTree(typeIdx));
  const visibleGraphs = () => (view === 'sandwich' ? [callersGraph, calleesGraph] : [mainGraph]);

  // act runs a UI action, redraws, and times both.
  function act(f) {
    const t0 = performance.now();
    const r = f();
    update();
    timings.lastActionMs = performance.now() - t0;
    return r;
  }

  function update() {
    const t0 = performance.now();
    const sandwich = view === 'sandwich';
    $('main').hidden = sandwich;
    $('sandwich').hidden = !sandwich;
    $('view-flame').setAttribute('aria-pressed', String(view === 'flame'));
    $('view-icicle').setAttribute('aria-pressed', String(view === 'icicle'));
    mainGraph.inverted = mainView === 'icicle';
    for (const g of visibleGraphs()) g.render();
    if (sandwich) $('sw-name').textContent = names[sandwichOf];

    const ty = types[typeIdx], t = currentTree();
    const m = $('match');
    if (matchName !== null) {
      const s = matchStats(t);
      let text = 'matched ' + pct(s.value / t.total) + ' of ' + ty.name;
      if (t.baseCum) text += ' (' + t.baseName + ' ' + pct(t.baseTotal > 0 ? s.base / t.baseTotal : 0) + ')';
      m.textContent = text;
    } else {
      m.textContent = '';
    }
    $('reset').disabled = !visibleGraphs().some((g) => g.zoom !== 0);
    renderLegend();
    renderDetails();
    if (tableDirty) renderTable();
    timings.lastRenderMs = performance.now() - t0;
  }

  // setType shows sample type k. A comparison stays if its type is
  // comparable with k (same unit, not k itself), else it ends.
  function setType(k) {
    typeIdx = k;
    typeSelect.value = String(k);
    if (compareIdx >= 0 && !comparable(k, compareIdx)) compareIdx = -1;
    fillCompareOptions();
    mainGraph.setTree(currentTree());
    selected = null;
    describeType();
    if (view === 'sandwich' && !showSandwich(sandwichOf)) closeSandwich();
    tableDirty = true;
  }

  // setCompare makes sample type b the base of the shown type, or ends the
  // comparison (b = -1). The widths do not change, so neither do the zoom
  // and the selected frame of the main graph; a sandwich is rebuilt with
  // the new base values.
  function setCompare(b) {
    if (diffPage || (b !== -1 && !comparable(typeIdx, b))) return false;
    compareIdx = b;
    compareSelect.value = b < 0 ? '' : String(b);
    const zoom = mainGraph.zoom;
    mainGraph.setTree(currentTree());
    mainGraph.zoom = zoom;
    describeType();
    if (view === 'sandwich') {
      if (selected !== null && selected.graph !== mainGraph) selected = null;
      if (!showSandwich(sandwichOf)) closeSandwich();
    }
    tableDirty = true;
    return true;
  }

  // chooseType and chooseCompare are what the controls (and the hook) do:
  // the change, then the fragment, so that the address shows it.
  function chooseType(k) {
    setType(k);
    writeFragment();
  }
  function chooseCompare(b) {
    if (!setCompare(b)) return false;
    writeFragment();
    return true;
  }

  function describeType() {
    const ty = types[typeIdx], t = currentTree();
    let desc = ty.desc ? ty.desc + '. ' : '';
    desc += 'Total ' + fmtValue(ty.total, ty.unit);
    if (diffPage) desc += ' (base ' + fmtValue(ty.baseTotal, ty.unit) + ')';
    else if (t.baseType) desc += '; compared with ' + t.baseType.name + ', total ' + fmtValue(t.baseTotal, ty.unit);
    $('typedesc').textContent = desc + '.';
  }

  // fillCompareOptions offers the types comparable with the shown one.
  function fillCompareOptions() {
    if (compareSelect === null) return;
    const opts = [new Option('nothing', '')];
    types.forEach((ty, b) => {
      if (comparable(typeIdx, b)) opts.push(new Option(ty.name + ' \u2014 ' + fmtValue(ty.total, ty.unit), String(b)));
    });
    compareSelect.replaceChildren(...opts);
    compareSelect.value = compareIdx < 0 ? '' : String(compareIdx);
    compareSelect.disabled = opts.length === 1;
    compareSelect.title =
      opts.length === 1
        ? 'No other sample type has the unit of ' + types[typeIdx].name
        : 'Colour each frame by the change of its share from the chosen type to ' + types[typeIdx].name;
  }

  function setView(v) {
    if (v !== 'flame' && v !== 'icicle') return false;
    view = mainView = v;
    sandwichOf = -1;
    return true;
  }

  function showSandwich(f) {
    const sw = buildSandwich(currentTree(), f);
    if (sw === null) return false;
    callersGraph.setTree(sw.callers);
    calleesGraph.setTree(sw.callees);
    sandwichOf = f;
    return true;
  }

  function openSandwich(f) {
    if (f < 0 || !showSandwich(f)) return false;
    view = 'sandwich';
    selected = null;
    hideTooltip();
    window.scrollTo(0, 0);
    return true;
  }

  function closeSandwich() {
    view = mainView;
    sandwichOf = -1;
  }

  function clickFrame(g, i) {
    g.zoom = i;
    selected = { graph: g, node: i };
  }

  function resetZoom() {
    let any = false;
    for (const g of visibleGraphs()) {
      any = any || g.zoom !== 0;
      g.zoom = 0;
    }
    return any;
  }

  // ---- Tooltip and details ------------------------------------------------

  // describe lists what is known about frame i of graph g, as [key, text].
  function describe(g, i) {
    const t = g.tree, ty = t.type, u = ty.unit;
    const lines = [
      ['Total', fmtValue(t.cum[i], u) + ' (' + pct(share(t, i)) + ' of ' + ty.name + ')'],
      ['Self', fmtValue(t.self[i], u) + ' (' + pct(t.total > 0 ? t.self[i] / t.total : 0) + ')'],
    ];
    if (g.zoom !== 0 && g.inZoom(i) && i !== g.zoom) {
      lines.push(['Of zoomed frame', pct(t.cum[i] / t.cum[g.zoom])]);
    }
    if (t.baseCum) {
      lines.push(['Base', pct(baseShare(t, i))], ['New', pct(share(t, i))], ['Delta', fmtPoints(deltaPoints(t, i))]);
    }
    return lines;
  }

  // fillLines replaces el's content with the name and lines, as text.
  function fillLines(el, name, lines) {
    el.replaceChildren();
    const n = document.createElement('div');
    n.className = 'name';
    n.textContent = name;
    el.appendChild(n);
    for (const [k, v] of lines) {
      const row = document.createElement('div');
      const ks = document.createElement('span');
      ks.className = 'k';
      ks.textContent = k + ': ';
      row.appendChild(ks);
      row.appendChild(document.createTextNode(v));
      el.appendChild(row);
    }
  }

  function showTooltip(g, i, cx, cy) {
    if (i < 0) return hideTooltip();
    fillLines(tooltip, label(g.tree, i), describe(g, i));
    const hint = document.createElement('div');
    hint.className = 'hint';
    hint.textContent = g.tree.nameOf[i] >= 0 ? 'click: zoom \u00b7 right-click: sandwich' : 'click: reset zoom';
    tooltip.appendChild(hint);
    tooltip.hidden = false;
    const w = tooltip.offsetWidth, h = tooltip.offsetHeight;
    let x = cx + 14, y = cy + 16;
    if (x + w > window.innerWidth - 4) x = Math.max(4, cx - w - 14);
    if (y + h > window.innerHeight - 4) y = Math.max(4, cy - h - 12);
    tooltip.style.left = x + 'px';
    tooltip.style.top = y + 'px';
  }

  function hideTooltip() {
    tooltip.hidden = true;
  }

  function renderDetails() {
    if (selected === null || !visibleGraphs().includes(selected.graph) || selected.node === 0) {
      details.hidden = true;
      return;
    }
    const g = selected.graph, i = selected.node;
    fillLines(details, label(g.tree, i), describe(g, i));
    const f = g.tree.nameOf[i];
    if (f >= 0 && f !== sandwichOf) {
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'Sandwich';
      b.title = 'Callers and callees of this function, merged over all its stacks';
      b.addEventListener('click', () => act(() => openSandwich(f)));
      details.appendChild(b);
    }
    details.hidden = false;
  }

  // ---- Function table -----------------------------------------------------

  function cell(tr, text, cls) {
    const td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  function renderTable() {
    tableDirty = false;
    const t = currentTree(), ty = t.type, s = funcStats(t);
    const diff = !!t.baseCum; // a differential page, or a comparison
    const head = $('functions-head');
    head.replaceChildren();
    const cols = diff ? ['Function', 'Base', 'New', 'Delta', ''] : ['Function', 'Self', 'Self %', 'Total', 'Total %', ''];
    for (const c of cols) {
      const th = document.createElement('th');
      th.textContent = c;
      head.appendChild(th);
    }
    const ids = [];
    for (let f = 0; f < names.length; f++) {
      if ((s.total[f] > 0 || (s.baseTotal && s.baseTotal[f] > 0)) && (matchName === null || matchName[f])) ids.push(f);
    }
    const newShare = (f) => s.total[f] / t.total;
    const oldShare = (f) => (t.baseTotal > 0 ? s.baseTotal[f] / t.baseTotal : 0);
    if (diff) {
      ids.sort((a, b) => Math.abs(newShare(b) - oldShare(b)) - Math.abs(newShare(a) - oldShare(a)));
    } else {
      ids.sort((a, b) => s.total[b] - s.total[a] || s.self[b] - s.self[a]);
    }
    const body = $('functions-body');
    body.replaceChildren();
    const shown = ids.slice(0, TABLE_ROWS);
    for (const f of shown) {
      const tr = document.createElement('tr');
      cell(tr, names[f]);
      if (diff) {
        const d = 100 * (newShare(f) - oldShare(f));
        cell(tr, pct(oldShare(f)));
        cell(tr, pct(newShare(f)));
        cell(tr, fmtPoints(d), d >= 0.05 ? 'grew' : d <= -0.05 ? 'shrank' : '');
      } else {
        cell(tr, fmtValue(s.self[f], ty.unit));
        cell(tr, pct(s.self[f] / t.total));
        cell(tr, fmtValue(s.total[f], ty.unit));
        cell(tr, pct(s.total[f] / t.total));
      }
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = 'sandwich';
      b.disabled = !(s.total[f] > 0);
      b.addEventListener('click', () => act(() => openSandwich(f)));
      cell(tr, '').appendChild(b);
      body.appendChild(tr);
    }
    let caption = diff ? 'By change of total share' : 'By total (each stack counted once)';
    if (t.baseType) caption += ' from ' + t.baseType.name + ' (Base) to ' + ty.name + ' (New)';
    caption += ': ' + shown.length + ' of ' + ids.length + ' functions';
    if (matchName !== null) caption += ' matching the search';
    $('functions-caption').textContent = caption + '.';
  }

  // ---- Controls -----------------------------------------------------------

  types.forEach((ty, k) => {
    const o = document.createElement('option');
    o.value = String(k);
    o.textContent = ty.name + ' \u2014 ' + fmtValue(ty.total, ty.unit);
    typeSelect.appendChild(o);
  });
  typeSelect.addEventListener('change', () => act(() => chooseType(Number(typeSelect.value))));
  $('view-flame').addEventListener('click', () => act(() => setView('flame')));
  $('view-icicle').addEventListener('click', () => act(() => setView('icicle')));
  $('reset').addEventListener('click', () => act(resetZoom));
  $('sw-close').addEventListener('click', () => act(closeSandwich));

  function onSearch() {
    const q = searchInput.value;
    const looksLikeRegexp = /^\/.+\/[imsu]*$/.test(q);
    searchInput.classList.toggle('invalid', looksLikeRegexp && !(compile(q) instanceof RegExp));
    setQuery(q);
    tableDirty = true;
  }
  // ---- Findings -----------------------------------------------------------

  // The diagnosis's findings, listed above the graph; a click shows the
  // finding's sample type and zooms to its proving stack.
  const findings = data.findings || [];

  // findPath walks tree t from the root along names (root first) and
  // returns the node named focus on that path, else the deepest node
  // reached, or -1. When the first name is not a child of the root (a page
  // with one tower per process), the walk starts one level down.
  function findPath(t, path, focus) {
    const childNamed = (i, name) => {
      for (let j = i + 1; j < t.end[i]; j = t.end[j]) if (t.cum[j] > 0 && label(t, j) === name) return j;
      return -1;
    };
    let starts = [0];
    if (path.length > 0 && childNamed(0, path[0]) < 0) {
      starts = [];
      for (let j = 1; j < t.end[0]; j = t.end[j]) starts.push(j);
    }
    let best = -1, bestFocus = -1, bestDepth = 0;
    for (const s of starts) {
      let i = s, d = 0, f = -1;
      for (const name of path) {
        const c = childNamed(i, name);
        if (c < 0) break;
        i = c;
        d++;
        if (name === focus && f < 0) f = i;
      }
      if (d > bestDepth) [bestDepth, best, bestFocus] = [d, i, f];
    }
    return bestFocus >= 0 ? bestFocus : best;
  }

  function focusFinding(k) {
    const f = findings[k];
    if (!f) return false;
    if (view === 'sandwich') closeSandwich();
    if (f.type >= 0 && f.type !== typeIdx) chooseType(f.type);
    const i = findPath(currentTree(), f.path || [], f.focus || '');
    if (i < 0) return false;
    clickFrame(mainGraph, i);
    return true;
  }

  function renderFindings() {
    if (findings.length === 0) return;
    $('findings').hidden = false;
    const list = $('findings-list');
    findings.forEach((f, k) => {
      const li = document.createElement('li');
      li.className = 'sev-' + f.severity;
      const b = document.createElement('button');
      b.type = 'button';
      b.textContent = f.severity.toUpperCase() + ': ' + f.title;
      b.title = f.path && f.path.length ? 'Show the proving stack' : 'No stack to show';
      b.disabled = !(f.path && f.path.length);
      b.addEventListener('click', () => act(() => focusFinding(k)));
      const d = document.createElement('span');
      d.className = 'finding-detail';
      d.textContent = f.detail;
      li.append(b, ' ', d);
      list.appendChild(li);
    });
  }
  renderFindings();

  let searchPending = false;
  searchInput.addEventListener('input', () => {
    if (searchPending) return;
    searchPending = true;
    requestAnimationFrame(() => {
      searchPending = false;
      act(onSearch);
    });
  });

  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') {
      if (document.activeElement === searchInput && searchInput.value !== '') return; // the browser clears it
      act(() => resetZoom() || (view === 'sandwich' && (closeSandwich(), true)));
    } else if (e.key === '/' && document.activeElement !== searchInput) {
      e.preventDefault();
      searchInput.focus();
    }
  });
  let resizePending = false;
  window.addEventListener('resize', () => {
    if (resizePending) return;
    resizePending = true;
    requestAnimationFrame(() => {
      resizePending = false;
      update();
    });
  });

  if (compareSelect !== null) {
    compareSelect.addEventListener('change', () =>
      act(() => chooseCompare(compareSelect.value === '' ? -1 : Number(compareSelect.value)))
    );
  }

  // renderLegend explains the colours of a differential (a differential page
  // or a comparison) and is hidden otherwise. It is rebuilt only when what it
  // explains changes.
  let legendKey = '';
  function renderLegend() {
    const key = diffPage ? 'diff' : compareIdx < 0 ? '' : typeIdx + '/' + compareIdx;
    if (key === legendKey) return;
    legendKey = key;
    const legend = $('legend');
    legend.replaceChildren();
    legend.hidden = key === '';
    if (key === '') return;
    const sw = (colour) => {
      const s = document.createElement('span');
      s.className = 'swatch';
      s.style.background = colour;
      return s;
    };
    const a = types[typeIdx].name, b = diffPage ? '' : types[compareIdx].name;
    legend.append(
      diffPage
        ? 'Differential: widths are the new profile; colours compare each frame\u2019s share of its type\u2019s total with the base profile.'
        : 'Comparing ' + a + ' with ' + b + ': widths are ' + a + '; colours compare each frame\u2019s share of the ' + a +
            ' total (New) with its share of the ' + b + ' total (Base).',
      sw(rgb(255, 102, 102)), 'share grew',
      sw(rgb(102, 102, 255)), 'share shrank',
      sw(NEUTRAL), 'unchanged. Frames only in ' + (diffPage ? 'the base profile' : b) + ' have no width.'
    );
  }

  // ---- URL fragment -------------------------------------------------------

  // The fragment #type=A&compare=B names what the page shows, for links to
  // a view of a file that may be opened offline. It is read at load and on
  // hashchange, and rewritten with history.replaceState (no request, no
  // history entry) when the type or comparison is changed.

  // readFragment returns the type and compare names in the fragment, each
  // null when absent. Other keys are ignored, and so are values that are
  // not valid percent-encoding.
  function readFragment() {
    const out = { type: null, compare: null };
    const h = String(location.hash || '').slice(1);
    if (h.length > 8192) return out; // not something this page wrote
    for (const part of h.split('&')) {
      const eq = part.indexOf('=');
      if (eq < 0) continue;
      const key = part.slice(0, eq);
      if (key !== 'type' && key !== 'compare') continue;
      try {
        out[key] = decodeURIComponent(part.slice(eq + 1));
      } catch (e) {
        // Malformed: as if absent.
      }
    }
    return out;
  }

  // applyFragment shows the type and comparison the fragment names. Names
  // that are not types of this page, or not comparable, are ignored; a
  // fragment naming a type but no comparison ends the comparison.
  function applyFragment() {
    const f = readFragment();
    if (f.type === null && f.compare === null) return;
    const k = types.findIndex((x) => x.name === f.type);
    if (k >= 0 && k !== typeIdx) setType(k);
    if (diffPage) return;
    const b = types.findIndex((x) => x.name === f.compare);
    const want = comparable(typeIdx, b) ? b : -1;
    if (want !== compareIdx) setCompare(want);
  }

  function writeFragment() {
    let h = '#type=' + encodeURIComponent(types[typeIdx].name);
    if (compareIdx >= 0) h += '&compare=' + encodeURIComponent(types[compareIdx].name);
    if (location.hash === h) return;
    try {
      history.replaceState(history.state, '', h);
    } catch (e) {
      // Not allowed here (an opaque or sandboxed document): the page works
      // without it, only the address does not follow.
    }
  }
  window.addEventListener('hashchange', () => act(applyFragment));

  // ---- Test hook ----------------------------------------------------------

  // firstNode finds the first frame named name (pre-order) with a value.
  function firstNode(t, name) {
    for (let i = 0; i < t.n; i++) {
      if (!(t.cum[i] > 0)) {
        i = t.end[i] - 1;
        continue;
      }
      if (label(t, i) === name) return i;
    }
    return -1;
  }
  const graphFor = (where) => ({ callers: callersGraph, callees: calleesGraph })[where] || mainGraph;

  function frameInfo(g, i) {
    const t = g.tree;
    const info = {
      name: label(t, i),
      depth: t.depth[i],
      value: t.cum[i],
      self: t.self[i],
      share: 100 * share(t, i),
      colour: colourOf(t, i),
      drawn: g.rectOf(i) !== null,
    };
    if (t.baseCum) {
      info.baseShare = 100 * baseShare(t, i);
      info.newShare = info.share;
      info.deltaPoints = deltaPoints(t, i);
    }
    return info;
  }

  function state() {
    const t = currentTree(), ty = types[typeIdx];
    const st = {
      ready: true,
      diff: !!t.baseCum, // drawn as a differential: a differential page, or a comparison
      type: ty.name,
      types: types.map((x) => x.name),
      compare: compareIdx < 0 ? null : types[compareIdx].name,
      compareTypes: types.filter((_, b) => comparable(typeIdx, b)).map((x) => x.name), // what "Compare with" offers
      view,
      total: ty.total,
      totalText: fmtValue(ty.total, ty.unit),
      zoomedTo: mainGraph.zoom === 0 ? null : label(t, mainGraph.zoom),
      query,
      matchedShare: null,
      matchedText: $('match').textContent,
      matchedFrames: 0,
      drawnFrames: mainGraph.drawn,
      highlightedFrames: mainGraph.highlighted,
      totalFrames: t.frames,
      sandwich: null,
      tableRows: $('functions-body').rows.length,
      findings: findings.length,
      timings: Object.assign({}, timings),
    };
    if (matchName !== null) {
      const s = matchStats(t);
      st.matchedShare = (100 * s.value) / t.total;
      st.matchedFrames = s.frames;
    }
    if (view === 'sandwich') {
      const c = callersGraph.tree, e = calleesGraph.tree;
      st.sandwich = {
        name: names[sandwichOf],
        value: c.cum[0],
        callers: rootChildren(c),
        callees: rootChildren(e),
        callerFrames: callersGraph.drawn,
        calleeFrames: calleesGraph.drawn,
        highlightedFrames: callersGraph.highlighted + calleesGraph.highlighted,
      };
    }
    return st;
  }

  // window.perfprobeFlame drives the page through the same code paths as its
  // controls and reads its state, for tests and for the console.
  Object.defineProperty(window, 'perfprobeFlame', {
    value: Object.freeze({
      state,
      search(q) {
        searchInput.value = String(q);
        act(onSearch);
        return state().matchedShare;
      },
      setType(name) {
        const k = types.findIndex((x) => x.name === name);
        if (k < 0) return false;
        act(() => chooseType(k));
        return true;
      },
      // compare(name) compares the shown type with type name (a base of the
      // same unit); compare(null) ends the comparison. False if not possible.
      compare(name) {
        if (name === null || name === undefined || name === '') return act(() => chooseCompare(-1));
        const b = types.findIndex((x) => x.name === name);
        if (b < 0) return false; // -1 would mean "nothing"
        return act(() => chooseCompare(b));
      },
      setView(v) {
        return act(() => setView(v));
      },
      // focusFinding(k) does what a click on the k-th finding does.
      focusFinding(k) {
        return act(() => focusFinding(k));
      },
      zoom(name) {
        if (name === null || name === undefined || name === '') return act(resetZoom);
        const i = firstNode(mainGraph.tree, name);
        if (i < 0) return false;
        act(() => clickFrame(mainGraph, i));
        return true;
      },
      resetZoom() {
        return act(resetZoom);
      },
      sandwich(name) {
        return act(() => openSandwich(names.indexOf(name)));
      },
      closeSandwich() {
        act(closeSandwich);
      },
      // frame describes the first frame named name in the main graph, or in
      // the 'callers' or 'callees' graph of the sandwich view.
      frame(name, where) {
        const g = graphFor(where);
        const i = firstNode(g.tree, name);
        return i < 0 ? null : frameInfo(g, i);
      },
      // rect is where the first frame named name was drawn (client pixels).
      rect(name, where) {
        const g = graphFor(where);
        const i = firstNode(g.tree, name);
        return i < 0 ? null : g.rectOf(i);
      },
    }),
  });

  // ---- First paint --------------------------------------------------------

  setType(typeIdx);
  applyFragment();
  update();
  timings.firstPaint = performance.now();
})();
