// netdsl diagram viewer: pan, zoom, click a block to expand it, hover for shapes and parameters.
// Self-contained: every view is an SVG laid out by Graphviz when the page was written.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("netdsl-data").textContent);
  var view = document.getElementById("view");
  var tip = document.getElementById("tip");
  var status = document.getElementById("status");
  var levels = document.getElementById("levels");
  var current = null;
  var svg = null;
  var box = null; // the current viewBox {x, y, w, h}
  var full = null; // the whole drawing's box
  var XLINK = "http://www.w3.org/1999/xlink";

  function keyOf(depth, expand) {
    var want = expand.slice().sort().join(",");
    for (var k in data.states) {
      var s = data.states[k];
      if (String(s.depth) === String(depth) && s.expand.slice().sort().join(",") === want) return k;
    }
    return null;
  }

  function setBox(b) {
    box = b;
    svg.setAttribute("viewBox", [b.x, b.y, b.w, b.h].join(" "));
  }

  function fitTo(b, maxScale) {
    var r = view.getBoundingClientRect();
    var pad = 0.04;
    var w = b.w * (1 + 2 * pad), h = b.h * (1 + 2 * pad);
    // never magnify beyond maxScale screen pixels per SVG unit
    var scale = Math.min(r.width / w, r.height / h, maxScale || 1.5);
    var vw = r.width / scale, vh = r.height / scale;
    setBox({ x: b.x + b.w / 2 - vw / 2, y: b.y + b.h / 2 - vh / 2, w: vw, h: vh });
  }

  function fitAll() { fitTo(full, 1.5); }

  function startView() {
    // the whole drawing if it stays readable; else its start (top or left) at a readable scale
    var r = view.getBoundingClientRect();
    var scale = Math.min(r.width / full.w, r.height / full.h);
    if (scale >= 0.7) return fitAll();
    var tall = full.h / full.w > r.height / r.width;
    scale = Math.min(1, tall ? r.width / full.w : r.height / full.h);
    var vw = r.width / scale, vh = r.height / scale;
    setBox({
      x: tall ? full.x + full.w / 2 - vw / 2 : full.x,
      y: tall ? full.y : full.y + full.h / 2 - vh / 2,
      w: vw, h: vh
    });
  }

  function elementBox(el) {
    // the bounding box of an element of the SVG, in viewBox units
    var bb = el.getBBox();
    var m = el.getCTM(), root = svg.getCTM();
    if (!m || !root) return { x: bb.x, y: bb.y, w: bb.width, h: bb.height };
    var rel = root.inverse().multiply(m);
    var p1 = svg.createSVGPoint(); p1.x = bb.x; p1.y = bb.y; p1 = p1.matrixTransform(rel);
    var p2 = svg.createSVGPoint(); p2.x = bb.x + bb.width; p2.y = bb.y + bb.height; p2 = p2.matrixTransform(rel);
    return { x: Math.min(p1.x, p2.x), y: Math.min(p1.y, p2.y), w: Math.abs(p2.x - p1.x), h: Math.abs(p2.y - p1.y) };
  }

  function show(key, focus) {
    var s = data.states[key];
    if (!s) return false;
    current = key;
    tip.style.display = "none";
    view.innerHTML = s.svg;
    svg = view.querySelector("svg");
    var w = parseFloat(svg.getAttribute("width")), h = parseFloat(svg.getAttribute("height"));
    var vb = (svg.getAttribute("viewBox") || ("0 0 " + w + " " + h)).split(/[\s,]+/).map(parseFloat);
    full = { x: vb[0], y: vb[1], w: vb[2], h: vb[3] };
    svg.removeAttribute("width");
    svg.removeAttribute("height");
    svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
    // our own tooltip replaces the browser's: keep Graphviz' tooltips as data-tip, drop <title>s
    Array.prototype.forEach.call(svg.querySelectorAll("g.node, g.cluster, g.edge"), function (g) {
      var a = g.querySelector("a");
      var t = a && (a.getAttributeNS(XLINK, "title") || a.getAttribute("xlink:title"));
      if (t) g.setAttribute("data-tip", t);
      if (s.click[g.id]) g.classList.add("can-expand");
      if (s.collapse[g.id]) g.classList.add("can-collapse");
    });
    Array.prototype.forEach.call(svg.querySelectorAll("title"), function (t) { t.remove(); });
    Array.prototype.forEach.call(svg.querySelectorAll("a"), function (a) {
      a.removeAttributeNS(XLINK, "title");
      a.removeAttribute("xlink:title");
    });
    startView();
    if (focus) focusOn(focus);
    document.body.setAttribute("data-state", key);
    document.body.setAttribute("data-expanded", s.expand.join(","));
    document.body.setAttribute("data-depth", String(s.depth));
    status.textContent = s.label;
    Array.prototype.forEach.call(levels.querySelectorAll("button"), function (b) {
      b.classList.toggle("active", b.getAttribute("data-state") === key);
    });
    var hash = "#depth=" + s.depth + (s.expand.length ? "&expand=" + s.expand.map(encodeURIComponent).join(",") : "");
    if (location.hash !== hash) history.replaceState(null, "", hash);
    return true;
  }

  function go(key, focus) {
    if (key && data.states[key]) {
      show(key, focus);
    } else {
      status.textContent = "this view was not pre-rendered (too many views): write the page with a larger --depth";
    }
  }

  function fromHash() {
    var h = location.hash.replace(/^#/, "");
    if (!h) return null;
    var depth = null, expand = [];
    h.split("&").forEach(function (part) {
      var kv = part.split("=");
      if (kv[0] === "depth") depth = kv[1];
      if (kv[0] === "expand" && kv[1]) expand = kv[1].split(",").map(decodeURIComponent);
    });
    if (depth === null) depth = data.states[data.initial].depth;
    return keyOf(depth, expand);
  }

  // ---- levels
  data.levels.forEach(function (lv) {
    var b = document.createElement("button");
    b.textContent = lv.label;
    b.setAttribute("data-state", lv.key);
    b.title = "expand every block down to this depth";
    b.addEventListener("click", function () { go(lv.key); });
    levels.appendChild(b);
  });
  document.getElementById("fit").addEventListener("click", fitAll);
  document.getElementById("zoom-in").addEventListener("click", function () { zoomAt(0.8); });
  document.getElementById("zoom-out").addEventListener("click", function () { zoomAt(1.25); });

  // ---- pan and zoom
  var drag = null;
  var moved = false;
  function toSvg(clientX, clientY) {
    var r = view.getBoundingClientRect();
    var scale = Math.max(box.w / r.width, box.h / r.height);
    var ox = box.x + box.w / 2 - (r.width * scale) / 2, oy = box.y + box.h / 2 - (r.height * scale) / 2;
    return { x: ox + (clientX - r.left) * scale, y: oy + (clientY - r.top) * scale, scale: scale };
  }
  function zoomAt(factor, clientX, clientY) {
    var r = view.getBoundingClientRect();
    var cx = clientX === undefined ? r.left + r.width / 2 : clientX;
    var cy = clientY === undefined ? r.top + r.height / 2 : clientY;
    var p = toSvg(cx, cy);
    var w = box.w * factor, h = box.h * factor;
    if (w > full.w * 20 || w < 10) return;
    setBox({ x: p.x - (p.x - box.x) * factor, y: p.y - (p.y - box.y) * factor, w: w, h: h });
  }
  view.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    zoomAt(ev.deltaY > 0 ? 1.15 : 1 / 1.15, ev.clientX, ev.clientY);
  }, { passive: false });
  view.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, y: ev.clientY, box: box };
    moved = false;
  });
  window.addEventListener("pointermove", function (ev) {
    if (drag) {
      var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (!moved && Math.abs(dx) + Math.abs(dy) < 4) return;
      if (!moved) view.classList.add("dragging");
      moved = true;
      var scale = toSvg(ev.clientX, ev.clientY).scale;
      setBox({ x: drag.box.x - dx * scale, y: drag.box.y - dy * scale, w: drag.box.w, h: drag.box.h });
      tip.style.display = "none";
    }
  });
  window.addEventListener("pointerup", function () {
    drag = null;
    view.classList.remove("dragging");
  });

  // ---- click to expand / collapse
  view.addEventListener("click", function (ev) {
    if (moved) { moved = false; return; }
    var s = data.states[current];
    var node = ev.target.closest("g.node");
    if (node) {
      if (s.click[node.id]) go(s.click[node.id][0], s.click[node.id][1]);
      return;
    }
    var cl = ev.target.closest("g.cluster");
    if (cl && s.collapse[cl.id]) go(s.collapse[cl.id][0], s.collapse[cl.id][1]);
  });

  // ---- hover
  function esc(t) {
    return String(t).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  }
  view.addEventListener("mousemove", function (ev) {
    if (drag && moved) return;
    var g = ev.target.closest("g.node, g.cluster, g.edge");
    var text = g && g.getAttribute("data-tip");
    if (!text) { tip.style.display = "none"; return; }
    var lines = text.split("\n");
    var html = "<b>" + esc(lines[0]) + "</b>";
    lines.slice(1).forEach(function (l) { html += "<br>" + esc(l); });
    var s = data.states[current];
    if (s.click[g.id]) html += "<br><i>click to expand</i>";
    if (s.collapse[g.id]) html += "<br><i>click to collapse</i>";
    tip.innerHTML = html;
    tip.style.display = "block";
    var x = ev.clientX + 14, y = ev.clientY + 14;
    var tw = tip.offsetWidth, th = tip.offsetHeight;
    if (x + tw > window.innerWidth - 4) x = ev.clientX - tw - 10;
    if (y + th > window.innerHeight - 4) y = ev.clientY - th - 10;
    tip.style.left = x + "px";
    tip.style.top = y + "px";
  });
  view.addEventListener("mouseleave", function () { tip.style.display = "none"; });

  window.addEventListener("hashchange", function () {
    var k = fromHash();
    if (k && k !== current) show(k, data.states[k].focus);
  });
  window.addEventListener("resize", function () { if (svg) fitAll(); });

  function focusOn(id) {
    var el = document.getElementById(id);
    if (el) fitTo(elementBox(el), 1.2);
    return !!el;
  }

  window.netdslDiagram = { go: go, focus: focusOn, fit: fitAll, state: function () { return current; }, data: data };
  var first = fromHash() || data.initial;
  show(first, data.states[first].focus);
  document.body.setAttribute("data-ready", "1");
})();
