// The device chart: uPlot over time buckets from GET /api/v1/devices/{serial}/measurements?buckets=N, for the visible
// window only; zooming in asks for the finer buckets of the new window, so a year of data draws from ~1,000
// buckets, never from every raw sample.
"use strict";
(function () {
  var element = document.getElementById("chart");
  if (!element || typeof uPlot === "undefined") { return; }
  var serial = element.dataset.serial;
  var channels = JSON.parse(element.dataset.channels || "[]");
  var from = Number(element.dataset.from);
  var to = Number(element.dataset.to);
  if (channels.length === 0) { element.textContent = "No channels yet: the device has sent no data."; return; }
  var colours = ["#0b5cad", "#b33c00"];
  var bands = ["rgba(11,92,173,0.15)", "rgba(179,60,0,0.15)"];

  function width() { return Math.max(280, element.clientWidth); }
  function buckets() { return Math.min(2000, Math.max(100, Math.round(width() * 1.5))); }

  function load(lo, hi) {
    var n = buckets();
    return Promise.all(channels.map(function (channel) {
      var url = "/api/v1/devices/" + encodeURIComponent(serial) + "/measurements?channel=" + channel.index +
        "&from=" + Math.floor(lo) + "&to=" + Math.ceil(hi) + "&buckets=" + n;
      return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) { throw new Error("HTTP " + r.status); } return r.json(); });
    })).then(function (pages) {
      // One x axis: the union of the bucket midpoints; a channel without a bucket there has a gap (null).
      var times = {};
      pages.forEach(function (page) { (page.buckets || []).forEach(function (b) { times[(b.start_s + b.end_s) / 2] = true; }); });
      var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
      var index = {};
      xs.forEach(function (x, i) { index[x] = i; });
      var data = [xs];
      pages.forEach(function (page) {
        var mean = new Array(xs.length).fill(null), min = new Array(xs.length).fill(null), max = new Array(xs.length).fill(null);
        (page.buckets || []).forEach(function (b) {
          var i = index[(b.start_s + b.end_s) / 2];
          mean[i] = b.mean; min[i] = b.min; max[i] = b.max;
        });
        data.push(mean, min, max);
      });
      return data;
    });
  }

  var series = [{}];
  var axes = [{}];
  var scales = { x: { time: true } };
  var bandList = [];
  channels.forEach(function (channel, c) {
    var scale = "y" + c;
    scales[scale] = {};
    var label = channel.name.replace(/_/g, " ") + " (" + channel.unit + ")";
    series.push({ label: label, scale: scale, stroke: colours[c % 2], width: 1.5, spanGaps: false });
    series.push({ label: label + " min", scale: scale, stroke: "transparent", points: { show: false } });
    series.push({ label: label + " max", scale: scale, stroke: "transparent", points: { show: false } });
    bandList.push({ series: [3 * c + 3, 3 * c + 2], fill: bands[c % 2] });
    axes.push({ scale: scale, label: label, side: c === 0 ? 3 : 1, grid: { show: c === 0 } });
  });

  // Limits and excursions: horizontal lines at each channel's limits, drawn after the series.
  function drawLimits(u) {
    var ctx = u.ctx;
    channels.forEach(function (channel, c) {
      [channel.lower, channel.upper].forEach(function (limit) {
        if (limit === null || limit === undefined) { return; }
        var y = u.valToPos(limit, "y" + c, true);
        ctx.save();
        ctx.strokeStyle = colours[c % 2];
        ctx.setLineDash([6, 4]);
        ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
        ctx.restore();
      });
    });
  }

  var loading = false;
  var plot;
  function refine(u) {
    var lo = u.scales.x.min, hi = u.scales.x.max;
    if (loading || lo === undefined || hi === undefined || hi - lo < 60) { return; }
    loading = true;
    load(lo, hi).then(function (data) { u.setData(data, false); u.setScale("x", { min: lo, max: hi }); })
      .catch(function () {}).then(function () { loading = false; });
  }

  element.textContent = "";
  load(from, to).then(function (data) {
    plot = new uPlot({
      width: width(),
      height: 320,
      series: series,
      axes: axes,
      scales: scales,
      bands: bandList,
      cursor: { drag: { x: true, y: false } },
      hooks: { draw: [drawLimits], setSelect: [function (u) { if (u.select.width > 0) { setTimeout(function () { refine(u); }, 0); } }] },
    }, data, element);
    element.dataset.drawn = "true";
    element.dataset.points = String(data[0].length);
    element.addEventListener("dblclick", function () { load(from, to).then(function (d) { plot.setData(d); }); });
    window.addEventListener("resize", function () { plot.setSize({ width: width(), height: 320 }); });
  }).catch(function (error) {
    element.textContent = "The chart could not be loaded (" + error.message + "). The values are in the table below.";
  });
})();
