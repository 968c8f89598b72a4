// Line charts over uPlot (vendored, window.uPlot). Colours: the Okabe-Ito palette, which stays
// distinguishable under the common colour-vision deficiencies; a bound is dashed black, so it
// does not rely on colour at all.

export const PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"];
const DASHES = [[], [6, 3], [2, 2], [8, 3, 2, 3]];

/** A chart that grows: `chart.set(x, ys)` with ys one array per series. */
export class LineChart {
  constructor(parent, { title, xLabel = "round", series, height = 220 }) {
    this.el = document.createElement("figure");
    this.el.className = "chart";
    this.el.setAttribute("aria-label", title);
    const cap = document.createElement("figcaption");
    cap.textContent = title;
    this.el.append(cap);
    parent.append(this.el);
    this.series = series;
    const opts = {
      width: this.width(parent),
      height,
      legend: { live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false } },
      axes: [{ label: xLabel }, { size: 60 }],
      series: [{ label: xLabel }, ...series.map((s, i) => ({
        label: s.label,
        stroke: s.bound ? "#000000" : PALETTE[(s.color ?? i) % PALETTE.length],
        dash: s.bound ? [6, 4] : DASHES[Math.floor(i / PALETTE.length) % DASHES.length],
        width: s.bound ? 1.5 : 2,
        points: { size: 6 },  // uPlot draws them where they are sparse (a single version)
      }))],
    };
    this.plot = new window.uPlot(opts, [[], ...series.map(() => [])], this.el);
    this.resize = new ResizeObserver(() => this.plot.setSize({ width: this.width(parent), height }));
    this.resize.observe(parent);
  }

  width(parent) {
    return Math.max(240, Math.min(parent.clientWidth - 8, 640));
  }

  set(x, ys) {
    this.plot.setData([x, ...ys]);
    this.el.dataset.points = x.length;  // what is drawn, for the browser tests and tools
  }

  destroy() {
    this.resize.disconnect();
    this.plot.destroy();
    this.el.remove();
  }
}
