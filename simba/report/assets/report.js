/* SIMBA report: draws the charts from the page's JSON data with the embedded ECharts. */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("report-data").textContent);
  var PALETTE = ["#4e79a7", "#59a14f", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
    "#1f77b4", "#17becf", "#8c564b", "#bcbd22", "#7f7f7f", "#3d5a80"];
  var FAILED = "#d62728", RUNNING = "#ff7f0e", CUT_OFF = "#8c6d31";
  var charts = {};
  var report = window.simbaReport = { data: data, charts: charts, colours: [], ready: false };

  function chart(id, element, option) {
    var instance = echarts.init(element, null, { renderer: "svg" });
    option.animation = false;
    instance.setOption(option);
    charts[id] = instance;
    return instance;
  }
  function el(tag, attrs, parent) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) parent.appendChild(node);
    return node;
  }
  function fmt(v, unit, digits) {
    return v === null || v === undefined ? "-" : (+v).toFixed(digits) + unit;
  }
  function simTime(seconds) {
    if (seconds === null || seconds === undefined) return "-";
    return new Date((data.simOrigin + seconds) * 1000).toISOString().replace(".000Z", "").replace("T", " ");
  }
  function tickSeconds(tick) {
    var segs = data.tickTimes;
    for (var i = 0; i < segs.length; i++) {
      var s = segs[i];
      if (tick >= s[0] && tick < s[0] + s[1]) return s[2] + (tick - s[0]) * s[3];
    }
    return null;
  }

  function timeline() {
    var c = data.calls, n = c.m.length, items = new Array(n);
    for (var i = 0; i < n; i++) items[i] = [c.s[i], c.s[i] + c.d[i], c.m[i], i];
    var modes = ["start", "step", "end"];
    var names = data.modules;
    report.colours = names.map(function (_, i) { return PALETTE[i % PALETTE.length]; });
    chart("timeline", document.getElementById("timeline"), {
      tooltip: {
        trigger: "item",
        formatter: function (p) {
          var i = p.value[3], o = data.outcomes[c.o[i]];
          return "<b>" + names[c.m[i]] + "</b> " + modes[c.k[i]] + " at tick " + c.t[i] +
            (c.a[i] > 1 ? " (attempt " + c.a[i] + ")" : "") +
            "<br>simulated time: " + simTime(tickSeconds(c.t[i])) +
            "<br>started: +" + c.s[i].toFixed(3) + " s" +
            "<br>wall: " + fmt(c.d[i], " s", 4) + ", CPU: " + fmt(c.c[i], " s", 4) +
            ", peak RSS: " + (c.r[i] === null ? "-" : (c.r[i] / 1024).toFixed(1) + " MiB") +
            "<br>outcome: " + o;
        }
      },
      grid: { left: 110, right: 30, top: 20, bottom: 70 },
      xAxis: { type: "value", name: "s since start", nameLocation: "middle", nameGap: 25, min: 0, scale: true },
      yAxis: { type: "category", data: names, inverse: true, splitLine: { show: true } },
      dataZoom: [
        { type: "inside", xAxisIndex: 0, filterMode: "weakFilter" },
        { type: "slider", xAxisIndex: 0, filterMode: "weakFilter", bottom: 8, height: 18 }
      ].concat(names.length > 12 ? [{ type: "inside", yAxisIndex: 0, zoomOnMouseWheel: false, moveOnMouseWheel: true }] : []),
      series: [{
        type: "custom", name: "calls", progressive: 0,
        markLine: {
          silent: true, symbol: "none", lineStyle: { color: "#5b6472", type: "dashed" },
          label: { formatter: "driver {b}", position: "insideEndTop" },
          data: data.drivers.map(function (d) { return { xAxis: d[0], name: String(d[1]) }; })
        },
        encode: { x: [0, 1], y: 2, tooltip: [0, 1] },
        data: items,
        renderItem: function (params, api) {
          var row = api.value(2), i = api.value(3);
          var start = api.coord([api.value(0), row]), end = api.coord([api.value(1), row]);
          var h = api.size([0, 1])[1] * 0.6;
          var sys = params.coordSys;
          var shape = echarts.graphic.clipRectByRect(
            { x: start[0], y: start[1] - h / 2, width: Math.max(end[0] - start[0], 1), height: h },
            { x: sys.x, y: sys.y, width: sys.width, height: sys.height });
          var outcome = data.outcomes[c.o[i]];
          var fill = outcome === "success" ? report.colours[row] : outcome === "running" ? RUNNING :
            outcome === "cut off" ? CUT_OFF : FAILED;
          return shape && { type: "rect", shape: shape, style: { fill: fill } };
        }
      }]
    });
  }

  function distributions() {
    var names = data.stats.map(function (s) { return s.name; });
    [["wall", "dist-wall", "wall time per attempt (s)"], ["cpu", "dist-cpu", "CPU per attempt (s)"],
     ["rss", "dist-rss", "peak RSS (MiB)"]].forEach(function (spec) {
      var values = data.stats.map(function (s) { return s[spec[0]] || ["-", "-", "-", "-", "-"]; });
      chart(spec[1], document.getElementById(spec[1]), {
        title: { text: spec[2], textStyle: { fontSize: 13 } },
        tooltip: { trigger: "item" },
        grid: { left: 60, right: 10, top: 36, bottom: 40 },
        xAxis: { type: "category", data: names },
        yAxis: { type: "value", scale: true },
        series: [{ type: "boxplot", data: values }]
      });
    });
  }

  function keyCharts() {
    var box = document.getElementById("key-charts");
    if (!data.series.length) {
      el("p", {}, box).textContent = "No numeric key in the state history (yet).";
      return;
    }
    var groups = {};
    data.series.forEach(function (s, i) {
      var group = s.scope === "commonData" ? "commonData" : "moduleData of " + s.module;
      if (!groups[group]) {
        el("h3", {}, box).textContent = group;
        groups[group] = el("div", { "class": "key-charts-group" }, box);
      }
      var node = el("div", { "class": "chart key-chart", "data-key": s.key, "data-points": s.n }, groups[group]);
      var points = s.x.map(function (x, j) { return [(data.simOrigin + x) * 1000, s.y[j]]; });
      var title = s.key + (s.n > s.x.length ? "  (" + s.n + " points, " + s.x.length + " shown: min/max per bucket)" : "");
      chart("key:" + s.key, node, {
        useUTC: true,
        title: { text: title, textStyle: { fontSize: 12 } },
        tooltip: { trigger: "axis" },
        grid: { left: 64, right: 16, top: 30, bottom: 28 },
        xAxis: { type: "time", axisLabel: { hideOverlap: true } },
        yAxis: { type: "value", scale: true },
        dataZoom: [{ type: "inside", filterMode: "none" }],
        series: [{ type: "line", name: s.key, data: points, showSymbol: points.length < 60, lineStyle: { width: 1.5 },
          color: PALETTE[i % PALETTE.length] }]
      });
    });
  }

  function graph() {
    var names = data.modules.slice(0, data.dependsOn.length), depth = {};
    function level(name, seen) {
      if (depth[name] !== undefined) return depth[name];
      var needs = data.dependsOn[names.indexOf(name)] || [], d = 0;
      needs.forEach(function (n) { if (seen.indexOf(n) < 0 && names.indexOf(n) >= 0) d = Math.max(d, level(n, seen.concat([n])) + 1); });
      return (depth[name] = d);
    }
    var nodes = names.map(function (name, i) {
      // top to bottom in schedule order; a module right of those it depends on
      return { name: name, x: level(name, [name]) * 160, y: i * 60,
        itemStyle: { color: PALETTE[i % PALETTE.length] } };
    });
    var links = [];
    names.forEach(function (name, i) {
      if (i > 0) links.push({ source: names[i - 1], target: name, lineStyle: { type: "dashed", color: "#aaa" }, label: { show: false } });
      (data.dependsOn[i] || []).forEach(function (n) {
        links.push({ source: n, target: name, lineStyle: { color: "#333", width: 2, curveness: 0.3 } });
      });
    });
    var node = document.getElementById("graph");
    node.style.height = Math.min(1600, 110 + 60 * names.length) + "px";
    chart("graph", node, {
      title: { text: "schedule order (dashed) and dependsOn (solid, arrow to the dependent)", textStyle: { fontSize: 12 } },
      tooltip: {},
      series: [{ type: "graph", layout: "none", roam: true, symbolSize: 28, edgeSymbol: ["none", "arrow"],
        label: { show: true, position: "right" }, data: nodes, links: links, top: 50, bottom: 30 }]
    });
  }

  function services() {
    var node = document.getElementById("service-chart");
    if (!node) return;
    chart("services", node, {
      title: { text: "jobs completed by each service over wall-clock time", textStyle: { fontSize: 12 } },
      tooltip: { trigger: "axis" }, legend: { top: 24 },
      grid: { left: 60, right: 16, top: 50, bottom: 36 },
      xAxis: { type: "value", name: "s since start", nameLocation: "middle", nameGap: 22 },
      yAxis: { type: "value" },
      series: data.services.map(function (s) {
        return { type: "line", name: s.module, data: s.x.map(function (x, j) { return [x, s.y[j]]; }) };
      })
    });
  }

  function sweepCharts() {
    var box = document.getElementById("sweep-charts");
    var made = 0;
    data.outputs.forEach(function (output, o) {
      data.parameters.forEach(function (parameter, p) {
        var usable = data.cells.filter(function (c) { return c.p[p] !== null; });
        if (!usable.length) return;
        var groups = {};
        usable.forEach(function (c) {
          var others = data.parameters.map(function (name, q) { return q === p ? null : name + "=" + c.p[q]; })
            .filter(function (x) { return x !== null; }).join(", ") || output;
          (groups[others] = groups[others] || []).push([c.p[p], c.o[o], c.id]);
        });
        var node = el("div", { "class": "chart sweep-chart", "data-output": output, "data-parameter": parameter }, box);
        chart("sweep:" + output + ":" + parameter, node, {
          title: { text: output + " against " + parameter, textStyle: { fontSize: 12 } },
          tooltip: { trigger: "item", formatter: function (q) { return q.value[2] + ": " + parameter + " = " + q.value[0] + ", " + output + " = " + q.value[1]; } },
          legend: { top: 24, type: "scroll" },
          grid: { left: 64, right: 16, top: 58, bottom: 36 },
          xAxis: { type: "value", scale: true, name: parameter, nameLocation: "middle", nameGap: 20 },
          yAxis: { type: "value", scale: true },
          series: Object.keys(groups).map(function (name) {
            return { type: "line", name: name, symbolSize: 8, data: groups[name].sort(function (a, b) { return a[0] - b[0]; }) };
          })
        });
        made++;
      });
    });
    if (!made) el("p", {}, box).textContent = "No numeric parameter with a numeric output to chart.";
  }

  if (typeof echarts === "undefined") {
    document.body.insertAdjacentHTML("afterbegin", "<p>The charts could not be drawn (ECharts did not load).</p>");
    return;
  }
  if (data.kind === "sweep") {
    sweepCharts();
  } else {
    timeline(); distributions(); keyCharts(); graph(); services();
  }
  window.addEventListener("resize", function () {
    Object.keys(charts).forEach(function (k) { charts[k].resize(); });
  });
  report.ready = true;
  document.body.setAttribute("data-ready", "1");
})();
