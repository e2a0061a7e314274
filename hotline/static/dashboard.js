"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var el = document.getElementById("trend-chart");
  if (!el || !window.echarts) { return; }
  var d = JSON.parse(document.getElementById("trend-data").textContent);
  var chart = window.echarts.init(el);
  chart.setOption({
    tooltip: { trigger: "axis" },
    legend: { data: ["受理量", "及时办结率"] },
    xAxis: { type: "category", data: d.days },
    yAxis: [
      { type: "value", name: "件" },
      { type: "value", name: "%", min: 0, max: 100 }
    ],
    series: [
      { name: "受理量", type: "bar", data: d.intake },
      { name: "及时办结率", type: "line", yAxisIndex: 1, data: d.on_time_rate, connectNulls: true }
    ]
  });
  window.addEventListener("resize", function () { chart.resize(); });
});
