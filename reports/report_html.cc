// index.html: one self-contained page (inline CSS and SVG, no script, no
// external resource) with the verdict table and, per run, a stacked-area plot
// of open connections per TCP state over scenario time with the fault
// timeline overlaid, and the findings.
//
// The page is deterministic like report.json: it holds no wall-clock value.
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "connfail/reports/report_writer.h"

namespace connfail::reports {

using scenarios::FaultEvent;
using scenarios::Finding;
using scenarios::Sample;

namespace {

std::string esc(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 8);
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

/// A coordinate: one decimal, no trailing ".0".
std::string num(double v) {
  if (!std::isfinite(v)) v = 0;
  std::string s = fmt::format("{:.1f}", v);
  if (s.size() > 2 && s.compare(s.size() - 2, 2, ".0") == 0) s.resize(s.size() - 2);
  if (s == "-0") s = "0";
  return s;
}

std::string secs(double s) { return human_seconds(s); }

/// A tick label: no unit, as few decimals as the step needs.
std::string tick_label(double v, double step) {
  int decimals = 0;
  while (decimals < 6 && std::fabs(step * std::pow(10.0, decimals) - std::round(step * std::pow(10.0, decimals))) > 1e-6)
    ++decimals;
  std::string s = fmt::format("{:.{}f}", v, decimals);
  if (s == "-0") s = "0";
  return s;
}

/// 1, 2, 5 x 10^k at or above `raw` (2.5 too unless `integer`: counts get
/// whole-number ticks).
double nice_step(double raw, bool integer = false) {
  if (!(raw > 0) || !std::isfinite(raw)) return 1;
  if (integer && raw <= 1) return 1;
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0}) {
    if (integer && m == 2.5 && mag < 10) continue;
    if (m * mag >= raw * (1 - 1e-9)) return m * mag;
  }
  return 10 * mag;
}

/// Estimated width in px of `text` at font-size 11px (sans-serif).
double text_width(std::string_view text, double font_px = 11) {
  double w = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) == 0x80) continue;  // UTF-8 continuation byte
    if (c >= 'A' && c <= 'Z') w += 0.68;
    else if (c == ' ' || c == '.' || c == ',' || c == ':' || c == 'i' || c == 'l' || c == 'j' || c == 't' || c == 'f' || c == 'r')
      w += 0.32;
    else if (c == 'm' || c == 'w') w += 0.85;
    else w += 0.56;
  }
  return w * font_px;
}

// --- TCP states ---------------------------------------------------------------

struct StateStyle {
  const char* name;
  const char* colour;
};
// Stacking order, bottom first. CLOSE_WAIT (the leak state) sits right on
// top of ESTABLISHED in a colour nothing else uses.
constexpr StateStyle kStates[] = {
    {"ESTABLISHED", "#4e79a7"}, {"CLOSE_WAIT", "#e15759"}, {"SYN_RCVD", "#59a14f"}, {"SYN_SENT", "#8cd17d"},
    {"FIN_WAIT_1", "#f28e2b"},  {"FIN_WAIT_2", "#edc948"}, {"LAST_ACK", "#ff9da7"}, {"CLOSING", "#b07aa1"},
    {"TIME_WAIT", "#9c755f"},   {"LISTEN", "#bab0ac"},     {"CLOSED", "#79706e"},
};
constexpr const char* kExtraColours[] = {"#76b7b2", "#b6992d", "#499894", "#d37295", "#a0cbe8", "#ffbe7d", "#86bcb6"};
constexpr const char* kChannelsColour = "#1f2328";
constexpr const char* kBackendColour = "#8250df";

struct Series {
  std::string state;
  std::string colour;
  int max = 0;
  int last = 0;
};

/// States present in a run, in stacking order, with their colours.
std::vector<Series> states_of(const RunResult& r) {
  std::map<std::string, int> max;
  for (const auto& s : r.samples)
    for (const auto& [state, n] : s.by_state) max[state] = std::max(max[state], n);
  std::vector<Series> out;
  for (const auto& st : kStates) {
    auto it = max.find(st.name);
    if (it == max.end()) continue;
    if (it->second > 0) out.push_back({st.name, st.colour, it->second, 0});
    max.erase(it);
  }
  std::size_t extra = 0;
  for (const auto& [state, m] : max) {  // unknown names, alphabetical
    if (m <= 0) continue;
    out.push_back({state, kExtraColours[extra++ % std::size(kExtraColours)], m, 0});
  }
  if (!r.samples.empty())
    for (auto& s : out) {
      auto it = r.samples.back().by_state.find(s.state);
      s.last = it == r.samples.back().by_state.end() ? 0 : it->second;
    }
  return out;
}

int total_of(const Sample& s) {
  int t = 0;
  for (const auto& [state, n] : s.by_state) t += std::max(0, n);
  return t;
}

/// At most `budget` samples in time order. Long series are cut into
/// budget/2 buckets, each keeping its lowest and highest sample (by total and
/// by open channels), so spikes and dips survive; first and last are kept.
std::vector<const Sample*> downsample(const std::vector<Sample>& samples, std::size_t budget) {
  std::vector<const Sample*> out;
  const std::size_t n = samples.size();
  if (n <= budget) {
    for (const auto& s : samples) out.push_back(&s);
    return out;
  }
  const std::size_t buckets = std::max<std::size_t>(1, (budget - 2) / 2);
  out.push_back(&samples.front());
  for (std::size_t b = 0; b < buckets; ++b) {
    const std::size_t lo = 1 + b * (n - 2) / buckets;
    const std::size_t hi = 1 + (b + 1) * (n - 2) / buckets;
    if (lo >= hi) continue;
    std::size_t imin = lo, imax = lo;
    for (std::size_t i = lo; i < hi; ++i) {
      const int v = std::max(total_of(samples[i]), samples[i].open_channels);
      if (v < std::max(total_of(samples[imin]), samples[imin].open_channels)) imin = i;
      if (v > std::max(total_of(samples[imax]), samples[imax].open_channels)) imax = i;
    }
    out.push_back(&samples[std::min(imin, imax)]);
    if (imin != imax) out.push_back(&samples[std::max(imin, imax)]);
  }
  out.push_back(&samples.back());
  return out;
}

// --- the plot -----------------------------------------------------------------

constexpr double kW = 960;        // viewBox width
constexpr double kLeft = 52;      // y-axis labels
constexpr double kRight = 20;
constexpr double kPlotH = 240;
constexpr double kLaneH = 18;
constexpr std::size_t kMaxLanes = 6;

struct PlacedFault {
  const FaultEvent* f;
  double x0, x1;      // band in plot coordinates
  std::string label;  // "half-open → a"
  std::size_t lane;
  double label_x;     // start of the label text
  bool label_inside;  // inside the interval bar
};

std::string fault_label(const FaultEvent& f) {
  return f.target.empty() ? f.kind : f.kind + " \xe2\x86\x92 " + f.target;  // →
}

bool is_interval(const FaultEvent& f) { return std::isfinite(f.end) && f.end > f.start; }

std::string plot_svg(const RunResult& r, std::size_t budget, const std::string& id) {
  const double pw = kW - kLeft - kRight;
  const auto series = states_of(r);
  const auto pts = downsample(r.samples, budget);

  // Axes ranges.
  double xmax = std::isfinite(r.scenario_seconds) ? r.scenario_seconds : 0;
  for (const auto& s : r.samples)
    if (std::isfinite(s.t)) xmax = std::max(xmax, s.t);
  for (const auto& f : r.faults) {
    if (std::isfinite(f.start)) xmax = std::max(xmax, f.start);
    if (std::isfinite(f.end)) xmax = std::max(xmax, f.end);
  }
  if (!(xmax > 0)) xmax = 1;
  int ymax_data = 0;
  for (const auto& s : r.samples) ymax_data = std::max({ymax_data, total_of(s), s.open_channels, s.open_backend_channels});
  const double ystep = nice_step(std::max(1, ymax_data) / 5.0, true);
  const double ymax = std::max(ystep, std::ceil(std::max(1, ymax_data) / ystep) * ystep);
  const double xstep = nice_step(xmax / 10.0);

  // Fault lanes: greedy, so labels do not overlap.
  std::vector<PlacedFault> placed;
  std::vector<double> lane_end;
  {
    std::vector<const FaultEvent*> order;
    for (const auto& f : r.faults)
      if (std::isfinite(f.start)) order.push_back(&f);
    std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->start < b->start; });
    for (const FaultEvent* f : order) {
      PlacedFault p{f, 0, 0, fault_label(*f), 0, 0, false};
      p.x0 = kLeft + std::clamp(f->start / xmax, 0.0, 1.0) * pw;
      p.x1 = is_interval(*f) ? kLeft + std::clamp(f->end / xmax, 0.0, 1.0) * pw : p.x0;
      // The label sits inside an interval bar when it fits, else right of
      // the bar (or of an instant marker).
      const double label_w = text_width(p.label);
      p.label_inside = is_interval(*f) && p.x1 - p.x0 >= label_w + 10;
      p.label_x = p.label_inside ? p.x0 + 5 : p.x1 + (is_interval(*f) ? 4 : 8);
      if (p.label_x + label_w > kW - 2) {  // no room on the right: left of the start
        p.label_x = p.x0 - 4 - label_w;
        p.label_inside = false;
      }
      const double end = std::max(p.x1, p.label_x + label_w) + 10;
      const double begin = std::min(p.x0, p.label_x);
      std::size_t lane = lane_end.size();
      for (std::size_t i = 0; i < lane_end.size(); ++i)
        if (lane_end[i] <= begin) {
          lane = i;
          break;
        }
      if (lane == lane_end.size()) {
        if (lane_end.size() < kMaxLanes) {
          lane_end.push_back(0);
        } else {
          lane = static_cast<std::size_t>(std::min_element(lane_end.begin(), lane_end.end()) - lane_end.begin());
        }
      }
      lane_end[lane] = std::max(lane_end[lane], end);
      p.lane = lane;
      placed.push_back(std::move(p));
    }
  }
  const double lanes_h = placed.empty() ? 0 : 20 + lane_end.size() * kLaneH;  // 20: "faults" caption
  const double top = 12 + lanes_h;
  const double bottom = top + kPlotH;

  // Legend rows (wrapped).
  struct Entry {
    std::string colour, text;
    bool line, band, instant;
  };
  std::vector<Entry> legend;
  for (const auto& s : series) legend.push_back({s.colour, fmt::format("{}  max {}, end {}", s.state, s.max, s.last), false, false, false});
  if (!r.samples.empty()) {
    int cmax = 0;
    for (const auto& s : r.samples) cmax = std::max(cmax, s.open_channels);
    legend.push_back({kChannelsColour, fmt::format("open channels (server ledger)  max {}, end {}", cmax, r.samples.back().open_channels), true, false, false});
    int bmax = 0;
    for (const auto& s : r.samples) bmax = std::max(bmax, s.open_backend_channels);
    if (bmax > 0)
      legend.push_back({kBackendColour,
                        fmt::format("open backend channels  max {}, end {}", bmax, r.samples.back().open_backend_channels),
                        true, false, false});
  }
  bool any_band = false, any_instant = false;
  for (const auto& p : placed) (is_interval(*p.f) ? any_band : any_instant) = true;
  if (any_band) legend.push_back({"", "fault (interval)", false, true, false});
  if (any_instant) legend.push_back({"", "fault (instant)", false, false, true});
  std::vector<std::pair<double, double>> legend_pos;  // x, row
  {
    double x = kLeft, row = 0;
    for (const auto& e : legend) {
      const double w = 22 + text_width(e.text) + 22;
      if (x + w > kW - kRight && x > kLeft) {
        x = kLeft;
        ++row;
      }
      legend_pos.emplace_back(x, row);
      x += w;
    }
  }
  const double legend_rows = legend.empty() ? 0 : legend_pos.back().second + 1;
  const double legend_top = bottom + 46;
  const double height = legend_top + legend_rows * 20 + 6;

  auto X = [&](double t) { return kLeft + std::clamp(t / xmax, 0.0, 1.0) * pw; };
  auto Y = [&](double v) { return bottom - std::clamp(v / ymax, 0.0, 1.0) * kPlotH; };

  std::string o;
  o.reserve(4096 + pts.size() * series.size() * 24);
  o += fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {} {}\" role=\"img\" aria-labelledby=\"{}-t\" "
      "font-family=\"-apple-system,'Segoe UI',Helvetica,Arial,sans-serif\" font-size=\"11\">\n",
      num(kW), num(height), id);
  o += fmt::format("<title id=\"{}-t\">Open connections per TCP state over scenario time, {}</title>\n", id, esc(run_key(r)));
  o += fmt::format("<defs><clipPath id=\"{}-clip\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/></clipPath></defs>\n", id,
                   num(kLeft), num(top), num(pw), num(kPlotH));

  // Grid and y axis.
  o += "<g class=\"grid\">\n";
  for (double v = 0; v <= ymax + 1e-9; v += ystep) {
    o += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1\"/>", num(kLeft), num(kLeft + pw),
                     num(Y(v)), num(Y(v)), v == 0 ? "#8c959f" : "#eaeef2");
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#57606a\">{}</text>\n", num(kLeft - 6), num(Y(v) + 4),
                     tick_label(v, ystep));
  }
  for (double t = 0; t <= xmax + 1e-9 * xmax; t += xstep) {
    o += fmt::format("<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#8c959f\"/>", num(X(t)), num(bottom), num(bottom + 4));
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#57606a\">{}</text>\n", num(X(t)), num(bottom + 16),
                     tick_label(t, xstep));
  }
  o += "</g>\n";
  o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#1f2328\">scenario time (s)</text>\n", num(kLeft + pw / 2),
                   num(bottom + 34));
  o += fmt::format(
      "<text transform=\"translate(14 {}) rotate(-90)\" text-anchor=\"middle\" fill=\"#1f2328\">open connections</text>\n",
      num(top + kPlotH / 2));

  // Stacked areas.
  o += fmt::format("<g clip-path=\"url(#{}-clip)\">\n", id);
  if (!pts.empty() && !series.empty()) {
    std::vector<double> lower(pts.size(), 0.0);
    for (const auto& s : series) {
      std::vector<double> upper(pts.size());
      for (std::size_t i = 0; i < pts.size(); ++i) {
        auto it = pts[i]->by_state.find(s.state);
        upper[i] = lower[i] + (it == pts[i]->by_state.end() ? 0 : std::max(0, it->second));
      }
      std::string d;
      d.reserve(pts.size() * 24);
      for (std::size_t i = 0; i < pts.size(); ++i) d += fmt::format("{}{} {}", i ? "L" : "M", num(X(pts[i]->t)), num(Y(upper[i])));
      if (pts.size() == 1) d += fmt::format("L{} {}", num(X(xmax)), num(Y(upper[0])));
      if (pts.size() == 1) d += fmt::format("L{} {}", num(X(xmax)), num(Y(lower[0])));
      for (std::size_t i = pts.size(); i-- > 0;) d += fmt::format("L{} {}", num(X(pts[i]->t)), num(Y(lower[i])));
      o += fmt::format("<path d=\"{}Z\" fill=\"{}\" fill-opacity=\"0.85\" stroke=\"{}\" stroke-width=\"0.6\"><title>{}: max {}, end {}</title></path>\n",
                       d, s.colour, s.colour, esc(s.state), s.max, s.last);
      lower = std::move(upper);
    }
  }
  if (!pts.empty()) {
    std::string d;
    for (std::size_t i = 0; i < pts.size(); ++i) d += fmt::format("{}{} {}", i ? "L" : "M", num(X(pts[i]->t)), num(Y(pts[i]->open_channels)));
    if (pts.size() == 1) d += fmt::format("L{} {}", num(X(xmax)), num(Y(pts[0]->open_channels)));
    o += fmt::format(
        "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\" stroke-dasharray=\"5 3\" stroke-linejoin=\"round\"><title>open channels (server ledger)</title></path>\n",
        d, kChannelsColour);
    bool backend = false;
    for (const auto* p : pts) backend = backend || p->open_backend_channels > 0;
    if (backend) {
      std::string b;
      for (std::size_t i = 0; i < pts.size(); ++i)
        b += fmt::format("{}{} {}", i ? "L" : "M", num(X(pts[i]->t)), num(Y(pts[i]->open_backend_channels)));
      o += fmt::format(
          "<path d=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"1.6\" stroke-dasharray=\"2 2\" stroke-linejoin=\"round\"><title>open backend channels</title></path>\n",
          b, kBackendColour);
    }
  }
  o += "</g>\n";

  // Faults: shaded bands / vertical lines over the plot, labelled in lanes above it.
  if (!placed.empty()) {
    o += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#57606a\" font-weight=\"600\">faults</text>\n", num(kLeft), num(12 + 11));
    for (const auto& p : placed) {
      const FaultEvent& f = *p.f;
      const double ly = 12 + 20 + p.lane * kLaneH;  // lane top
      const std::string tip = is_interval(f) ? fmt::format("{}: {} – {}", p.label, secs(f.start), secs(f.end))
                                             : fmt::format("{}: at {}", p.label, secs(f.start));
      o += "<g>";
      o += fmt::format("<title>{}</title>", esc(tip));
      if (is_interval(f)) {
        o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#8250df\" fill-opacity=\"0.09\"/>", num(p.x0), num(top),
                         num(std::max(1.0, p.x1 - p.x0)), num(kPlotH));
        o += fmt::format("<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#8250df\" stroke-opacity=\"0.5\"/>", num(p.x0),
                         num(ly + 2), num(bottom));
        o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"3\" fill=\"#8250df\" fill-opacity=\"0.18\" stroke=\"#8250df\" stroke-opacity=\"0.6\"/>",
                         num(p.x0), num(ly + 2), num(std::max(2.0, p.x1 - p.x0)), num(kLaneH - 4));
        o += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#3e1f79\">{}</text>", num(p.label_x), num(ly + 13), esc(p.label));
      } else {
        o += fmt::format("<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#bc4c00\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>",
                         num(p.x0), num(ly + 9), num(bottom));
        o += fmt::format("<path d=\"M{} {}l5 5-5 5-5-5z\" fill=\"#bc4c00\"/>", num(p.x0), num(ly + 4));
        o += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#762c00\">{}</text>", num(p.label_x), num(ly + 13), esc(p.label));
      }
      o += "</g>\n";
    }
  }

  if (r.samples.empty())
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#57606a\" font-size=\"13\">no samples recorded</text>\n",
                     num(kLeft + pw / 2), num(top + kPlotH / 2));
  // Plot frame.
  o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#d0d7de\"/>\n", num(kLeft), num(top), num(pw),
                   num(kPlotH));

  // Legend.
  for (std::size_t i = 0; i < legend.size(); ++i) {
    const auto& e = legend[i];
    const double x = legend_pos[i].first, y = legend_top + legend_pos[i].second * 20;
    if (e.line)
      o += fmt::format("<line x1=\"{}\" x2=\"{}\" y1=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"1.6\" stroke-dasharray=\"5 3\"/>", num(x),
                       num(x + 16), num(y + 6), num(y + 6), e.colour);
    else if (e.band)
      o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"12\" rx=\"2\" fill=\"#8250df\" fill-opacity=\"0.18\" stroke=\"#8250df\" stroke-opacity=\"0.6\"/>",
                       num(x), num(y));
    else if (e.instant)
      o += fmt::format("<line x1=\"{0}\" x2=\"{0}\" y1=\"{1}\" y2=\"{2}\" stroke=\"#bc4c00\" stroke-width=\"1.5\" stroke-dasharray=\"4 3\"/>",
                       num(x + 8), num(y - 1), num(y + 13));
    else
      o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"16\" height=\"12\" rx=\"2\" fill=\"{}\"/>", num(x), num(y), e.colour);
    o += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#1f2328\" xml:space=\"preserve\">{}</text>\n", num(x + 22), num(y + 10), esc(e.text));
  }
  o += "</svg>\n";
  return o;
}

// --- page -----------------------------------------------------------------------

constexpr const char* kCss = R"CSS(
:root{--pass:#1a7f37;--fail:#cf222e;--border:#d0d7de;--muted:#57606a;--fg:#1f2328;--failbg:#ffebe9}
*{box-sizing:border-box}
body{margin:0;font:14px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Helvetica,Arial,sans-serif;color:var(--fg);background:#f6f8fa}
header.top{display:flex;gap:24px;align-items:center;padding:20px 32px;color:#fff}
header.top.pass{background:var(--pass)}
header.top.fail{background:var(--fail)}
header.top .verdict{font-size:30px;font-weight:700;letter-spacing:2px;border:2px solid rgba(255,255,255,.85);border-radius:8px;padding:2px 18px}
header.top h1{margin:0;font-size:22px;font-weight:600}
header.top p{margin:2px 0 0;opacity:.92}
main{max-width:1180px;margin:0 auto;padding:8px 32px 40px}
h2{font-size:18px;margin:28px 0 10px}
h3{font-size:15px;margin:18px 0 8px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border:1px solid var(--border);padding:5px 10px;text-align:left;vertical-align:top}
th{background:#f6f8fa;font-weight:600;white-space:nowrap}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
table.runs tr.fail td{background:var(--failbg)}
table.runs td a{color:#0969da;text-decoration:none;font-weight:600}
table.runs td a:hover{text-decoration:underline}
.badge{display:inline-block;min-width:44px;text-align:center;padding:0 8px;border-radius:10px;font-size:12px;font-weight:700;color:#fff;line-height:20px}
.badge.pass{background:var(--pass)}
.badge.fail{background:var(--fail)}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"Liberation Mono",monospace;font-size:12px}
.muted{color:var(--muted)}
details.run{background:#fff;border:1px solid var(--border);border-radius:8px;margin:18px 0;padding:0 20px 14px}
details.run.fail{border-left:6px solid var(--fail)}
details.run.pass{border-left:6px solid var(--pass)}
details.run>summary{cursor:pointer;padding:12px 0 10px;font-size:16px;font-weight:600;list-style-position:outside}
details.run>summary .key{font-weight:400;color:var(--muted);margin-left:6px}
details.run:not([open])>summary{padding-bottom:12px}
.desc{margin:0 0 8px}
dl.meta{display:flex;flex-wrap:wrap;gap:2px 22px;margin:0 0 10px;color:var(--muted);font-size:13px}
dl.meta div{display:flex;gap:6px}
dl.meta dt{font-weight:600}
dl.meta dd{margin:0;color:var(--fg)}
figure{margin:6px 0 4px}
figure svg{width:100%;height:auto;display:block}
figcaption{font-size:12px;color:var(--muted);margin-top:2px}
table.findings td.kind{white-space:nowrap;font-weight:600;color:var(--fail)}
table.findings ol,table.findings ul{margin:0;padding-left:18px}
table.findings li{white-space:nowrap}
table.faults{width:auto;min-width:50%}
.none{color:var(--pass);font-weight:600}
footer{color:var(--muted);font-size:12px;text-align:center;padding:12px}
@media print{body{background:#fff}details.run{break-inside:avoid}}
)CSS";

constexpr std::size_t kMaxFindingsShown = 200;
constexpr std::size_t kMaxListShown = 12;

void list_cell(std::string& o, const std::vector<std::string>& items, bool ordered) {
  if (items.empty()) {
    o += "<td class=\"muted\">—</td>";
    return;
  }
  o += ordered ? "<td><ol class=\"mono\">" : "<td><ul>";
  const std::size_t n = std::min(items.size(), kMaxListShown);
  for (std::size_t i = 0; i < n; ++i) o += "<li>" + esc(items[i]) + "</li>";
  if (items.size() > n) o += fmt::format("<li class=\"muted\">… {} more</li>", items.size() - n);
  o += ordered ? "</ol></td>" : "</ul></td>";
}

}  // namespace

std::string to_html(const Report& r) {
  const std::size_t total = r.runs.size();
  std::size_t failed = 0;  // fail or inconclusive
  for (const auto& run : r.runs) failed += (run.passed || status_of(run) == "n/a") ? 0 : 1;
  const bool ok = r.passed();
  // "pass" / "fail" CSS classes; n/a looks like a pass, inconclusive like a fail.
  auto css = [](const scenarios::RunResult& run) { return run.passed || status_of(run) == "n/a" ? "pass" : "fail"; };
  // Fewer points per plot as the page grows; never above 600.
  const std::size_t budget = total <= 20 ? 600 : total <= 100 ? 300 : 150;
  const bool collapse_passing = total > 12;

  std::string o;
  o += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  o += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  o += fmt::format("<title>connfail report: {} ({} of {} runs failed)</title>\n", ok ? "PASS" : "FAIL", failed, total);
  o += "<style>";
  o += kCss;
  o += "</style>\n</head>\n<body>\n";

  o += fmt::format("<header class=\"top {}\">\n<div class=\"verdict\">{}</div>\n<div><h1>connfail report</h1>\n", ok ? "pass" : "fail",
                   ok ? "PASS" : "FAIL");
  o += fmt::format("<p>{} run{} · {} passed · {} failed{}</p></div>\n</header>\n<main>\n", total, total == 1 ? "" : "s", total - failed,
                   failed, r.connfail_version.empty() ? "" : " · connfail " + esc(r.connfail_version));

  // Verdict table.
  o += "<h2>Runs</h2>\n";
  if (total == 0) o += "<p class=\"muted\">No runs.</p>\n";
  else {
    o += "<table class=\"runs\">\n<thead><tr><th>scenario</th><th>transport</th><th class=\"num\">seed</th><th>variant</th>"
         "<th>verdict</th><th class=\"num\">findings</th><th class=\"num\">opened</th><th class=\"num\">scenario time</th></tr></thead>\n<tbody>\n";
    for (std::size_t i = 0; i < total; ++i) {
      const auto& run = r.runs[i];
      o += fmt::format(
          "<tr class=\"{}\"><td><a href=\"#run-{}\">{}</a></td><td>{}</td><td class=\"num\">{}</td><td>{}</td>"
          "<td><span class=\"badge {}\">{}</span></td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
          css(run), i + 1, esc(run.scenario), scenarios::to_string(run.transport), run.seed,
          run.variant.empty() ? std::string("<span class=\"muted\">—</span>") : "<code>" + esc(run.variant) + "</code>",
          css(run), status_text(status_of(run)), run.findings.size(), run.connections_opened,
          secs(run.scenario_seconds));
    }
    o += "</tbody>\n</table>\n";
  }

  if (!r.comparisons.empty()) {
    o += "<h2>Sim vs. real</h2>\n<table class=\"runs\">\n<thead><tr><th>scenario</th><th class=\"num\">seed</th>"
         "<th>variant</th><th>sim</th><th>asio</th><th>server closes (sim / asio)</th><th>client closes (sim / asio)</th>"
         "<th>agree</th></tr></thead>\n<tbody>\n";
    auto counts = [](const std::map<std::string, std::uint64_t>& m) {
      std::string s;
      for (const auto& [k, n] : m) s += (s.empty() ? "" : ", ") + fmt::format("{} {}", n, k);
      return s.empty() ? std::string("—") : s;
    };
    auto side = [](const std::string& status, const std::vector<std::string>& kinds) {
      std::string s = status_text(status);
      for (std::size_t i = 0; i < kinds.size(); ++i) s += (i ? ", " : " (") + kinds[i] + (i + 1 == kinds.size() ? ")" : "");
      return s;
    };
    for (const auto& c : r.comparisons)
      o += fmt::format("<tr class=\"{}\"><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td>"
                       "<td>{} / {}</td><td>{} / {}</td><td><span class=\"badge {}\">{}</span></td></tr>\n",
                       c.agree ? "pass" : "fail", esc(c.scenario), c.seed, c.variant.empty() ? std::string("—") : esc(c.variant),
                       esc(side(c.sim_status, c.sim_findings)), esc(side(c.asio_status, c.asio_findings)),
                       esc(counts(c.sim_ledger)), esc(counts(c.asio_ledger)), esc(counts(c.sim_client_ledger)),
                       esc(counts(c.asio_client_ledger)), c.agree ? "pass" : "fail", c.agree ? "agree" : "DISAGREE");
    o += "</tbody>\n</table>\n";
  }

  if (!r.skipped.empty()) {
    o += "<h2>Skipped</h2>\n<ul>\n";
    for (const auto& k : r.skipped)
      o += fmt::format("<li>{} [{}]: {}</li>\n", esc(k.scenario), scenarios::to_string(k.transport), esc(k.reason));
    o += "</ul>\n";
  }

  // Per run.
  for (std::size_t i = 0; i < total; ++i) {
    const auto& run = r.runs[i];
    const std::string id = fmt::format("run-{}", i + 1);
    const bool open = std::string(css(run)) == "fail" || !collapse_passing;
    o += fmt::format("<details class=\"run {}\" id=\"{}\"{}>\n", css(run), id, open ? " open" : "");
    std::string key = fmt::format("{} seed={}", scenarios::to_string(run.transport), run.seed);
    if (!run.variant.empty()) key += " " + run.variant;
    o += fmt::format("<summary><span class=\"badge {}\">{}</span> {} <span class=\"key\">[{}]</span></summary>\n",
                     css(run), status_text(status_of(run)), esc(run.scenario), esc(key));
    if (!run.description.empty()) o += "<p class=\"desc\">" + esc(run.description) + "</p>\n";
    if (!run.notes.empty()) {
      const std::string st = status_of(run);
      o += fmt::format("<p><strong>{}</strong></p>\n<ul>\n",
                       st == "n/a"            ? "Not applicable:"
                       : st == "inconclusive" ? "Inconclusive: the scenario could not be judged:"
                                              : "Also not judged:");
      for (const auto& n : run.notes) o += "<li>" + esc(n) + "</li>\n";
      o += "</ul>\n";
    }

    o += "<dl class=\"meta\">";
    auto meta = [&](const char* k, const std::string& v) { o += fmt::format("<div><dt>{}</dt><dd>{}</dd></div>", k, v); };
    if (!run.file.empty()) meta("file", "<code>" + esc(run.file) + "</code>");
    if (!run.server_kind.empty()) meta("server kind", "<code>" + esc(run.server_kind) + "</code>");
    if (!run.network.empty()) meta("network", esc(run.network));
    meta("scenario time", secs(run.scenario_seconds));
    meta("opened", std::to_string(run.connections_opened));
    meta("client connects", fmt::format("{} ok, {} failed", run.client_connects_ok, run.client_connects_failed));
    if (run.reconnects > 0) meta("reconnects", std::to_string(run.reconnects));
    meta("bytes echoed", std::to_string(run.bytes_echoed));
    if (!run.ledger.empty()) {
      std::string l;
      for (const auto& [reason, n] : run.ledger) l += (l.empty() ? "" : " · ") + esc(reason) + " " + std::to_string(n);
      meta("ledger", l);
    }
    if (run.trace_hash != 0) meta("trace", fmt::format("<code>{:016x}</code>", run.trace_hash));
    o += "</dl>\n";

    o += "<figure>\n" + plot_svg(run, budget, id);
    o += fmt::format("<figcaption>Open connections per TCP state (stacked) and open channels in the server's ledger (dashed), "
                     "{} samples{}; shaded bands and dashed vertical lines mark faults.</figcaption>\n</figure>\n",
                     run.samples.size(), run.samples.size() > budget ? fmt::format(", downsampled to at most {}", budget) : "");

    if (run.findings.empty()) {
      o += status_of(run) == "fail" ? "<p class=\"muted\">The run failed without a finding (see report.json).</p>\n"
                                : "<p class=\"none\">No findings.</p>\n";
    } else {
      o += fmt::format("<h3>Findings ({})</h3>\n", run.findings.size());
      o += "<table class=\"findings\">\n<thead><tr><th>kind</th><th>message</th><th>connection</th><th>history</th><th>faults seen</th></tr></thead>\n<tbody>\n";
      const std::size_t n = std::min(run.findings.size(), kMaxFindingsShown);
      for (std::size_t k = 0; k < n; ++k) {
        const Finding& f = run.findings[k];
        o += fmt::format("<tr><td class=\"kind\">{}{}</td><td>{}</td>", esc(f.kind),
                         f.evidence.empty() ? std::string() : "<br><span class=\"muted\">" + esc(f.evidence) + "</span>",
                         esc(f.message));
        o += f.connection.empty() ? std::string("<td class=\"muted\">—</td>") : "<td><code>" + esc(f.connection) + "</code></td>";
        list_cell(o, f.history, true);
        list_cell(o, f.faults_seen, false);
        o += "</tr>\n";
      }
      if (run.findings.size() > n)
        o += fmt::format("<tr><td colspan=\"5\" class=\"muted\">… and {} more findings in report.json</td></tr>\n", run.findings.size() - n);
      o += "</tbody>\n</table>\n";
    }

    if (!run.faults.empty()) {
      o += fmt::format("<h3>Faults ({})</h3>\n<table class=\"faults\">\n<thead><tr><th>kind</th><th>target</th><th class=\"num\">start</th>"
                       "<th class=\"num\">end</th></tr></thead>\n<tbody>\n",
                       run.faults.size());
      for (const auto& f : run.faults)
        o += fmt::format("<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n", esc(f.kind), esc(f.target),
                         secs(f.start), is_interval(f) ? secs(f.end) : std::string("instant"));
      o += "</tbody>\n</table>\n";
    }
    o += "</details>\n";
  }
  o += "</main>\n";
  o += fmt::format("<footer>report schema {}{}</footer>\n", kReportSchema,
                   r.connfail_version.empty() ? "" : " · connfail " + esc(r.connfail_version));
  o += "</body>\n</html>\n";
  return o;
}

}  // namespace connfail::reports
