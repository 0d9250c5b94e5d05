#include "engine/runtime/report_svg.h"

#include <fmt/format.h>

#include <algorithm>
#include <deque>
#include <limits>

namespace flowbatch {

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
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

namespace {

constexpr int kChartWidth = 640, kChartHeight = 200;
constexpr int kLeft = 56, kRight = 12, kTop = 28, kBottom = 26;

std::string short_number(double v) {
  if (v >= 1e6) return fmt::format("{:.1f}M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f}k", v / 1e3);
  if (v >= 10 || v == 0) return fmt::format("{:.0f}", v);
  return fmt::format("{:.2g}", v);
}

}  // namespace

std::string svg_line_chart(const std::string& title, const std::string& unit, const std::vector<double>& seconds,
                           const std::vector<ChartSeries>& series) {
  std::string out = fmt::format(
      R"(<figure><svg class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}">)"
      R"(<text x="{l}" y="16" class="title">{t}</text>)",
      fmt::arg("w", kChartWidth), fmt::arg("h", kChartHeight), fmt::arg("t", html_escape(title)), fmt::arg("l", kLeft));
  if (seconds.size() < 2) return out + R"(<text x="56" y="100">not enough data yet</text></svg></figure>)";
  double top = 0;
  for (const ChartSeries& s : series)
    for (double v : s.values) top = std::max(top, v);
  top = top > 0 ? top * 1.1 : 1;
  const double t0 = seconds.front(), t1 = std::max(seconds.back(), t0 + 1e-9);
  const double plot_w = kChartWidth - kLeft - kRight, plot_h = kChartHeight - kTop - kBottom;
  auto x = [&](double t) { return kLeft + (t - t0) / (t1 - t0) * plot_w; };
  auto y = [&](double v) { return kTop + plot_h - v / top * plot_h; };
  out += fmt::format(R"(<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" class="axis"/>)", kLeft, kTop, kTop + plot_h);
  out +=
      fmt::format(R"(<line x1="{0}" y1="{2}" x2="{1}" y2="{2}" class="axis"/>)", kLeft, kLeft + plot_w, kTop + plot_h);
  out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>)", kLeft - 4, kTop + 4,
                     short_number(top / 1.1));
  out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">{}</text>)", kLeft - 4, kTop + 16,
                     html_escape(unit));
  out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">0</text>)", kLeft - 4, kTop + plot_h);
  out += fmt::format(R"(<text x="{}" y="{}" class="tick" text-anchor="end">{:.0f} s</text>)", kLeft + plot_w,
                     kChartHeight - 6, t1);
  double legend_x = kLeft + 200;
  for (const ChartSeries& s : series) {
    std::string points;
    for (std::size_t i = 0; i < seconds.size() && i < s.values.size(); ++i)
      points += fmt::format("{}{:.1f},{:.1f}", points.empty() ? "" : " ", x(seconds[i]), y(s.values[i]));
    out += fmt::format(R"(<polyline class="series" points="{}" stroke="{}"/>)", points, s.color);
    out += fmt::format(R"(<text x="{:.0f}" y="16" class="legend" fill="{}">&#9632; {}</text>)", legend_x, s.color,
                       html_escape(s.name));
    legend_x += 30 + 7.5 * static_cast<double>(s.name.size());
  }
  return out + "</svg></figure>\n";
}

namespace {

/// Each node's distance from the sources, along edges (so a retry's way back is not counted).
std::vector<std::size_t> columns(const Plan& plan) {
  constexpr auto kUnreached = std::numeric_limits<std::size_t>::max();
  std::vector<std::size_t> depth(plan.nodes.size(), kUnreached);
  std::deque<std::size_t> todo;
  for (std::size_t i = 0; i < plan.nodes.size(); ++i)
    if (plan.inputs_of(i).empty()) {
      depth[i] = 0;
      todo.push_back(i);
    }
  while (!todo.empty()) {
    const std::size_t n = todo.front();
    todo.pop_front();
    for (const PlanEdge& e : plan.edges)
      if (e.from == n && depth[e.to] == kUnreached) {
        depth[e.to] = depth[n] + 1;
        todo.push_back(e.to);
      }
  }
  for (auto& d : depth)
    if (d == kUnreached) d = 0;
  return depth;
}

}  // namespace

std::string svg_graph(const Plan& plan, const std::deque<NodeStats>& nodes) {
  constexpr int kBoxW = 170, kBoxH = 58, kGapX = 70, kGapY = 26, kMargin = 10;
  const std::vector<std::size_t> column = columns(plan);
  std::vector<int> row(plan.nodes.size());
  std::vector<int> rows_in_column(plan.nodes.size() + 1, 0);
  for (std::size_t i = 0; i < plan.nodes.size(); ++i) row[i] = rows_in_column[column[i]]++;
  const int width =
      kMargin * 2 + static_cast<int>(*std::max_element(column.begin(), column.end()) + 1) * (kBoxW + kGapX);
  const int height = kMargin * 2 + *std::max_element(rows_in_column.begin(), rows_in_column.end()) * (kBoxH + kGapY);
  auto left = [&](std::size_t n) { return kMargin + static_cast<int>(column[n]) * (kBoxW + kGapX); };
  auto top = [&](std::size_t n) { return kMargin + row[n] * (kBoxH + kGapY); };

  std::string out = fmt::format(R"(<svg class="graph" viewBox="0 0 {0} {1}" width="{0}" height="{1}" role="img" )"
                                R"(aria-label="the graph">)",
                                width, height);
  out += R"(<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" )"
         R"(orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#667"/></marker></defs>)";
  for (const PlanEdge& e : plan.edges) {
    const int x1 = left(e.from) + kBoxW, y1 = top(e.from) + kBoxH / 2;
    const int x2 = left(e.to), y2 = top(e.to) + kBoxH / 2;
    const bool back = column[e.to] <= column[e.from];
    const std::string path =
        back ? fmt::format("M{},{} C{},{} {},{} {},{}", left(e.from) + kBoxW / 2, top(e.from) + kBoxH, left(e.from),
                           top(e.from) + kBoxH + kGapY, x2 + kBoxW / 2, top(e.to) + kBoxH + kGapY, x2 + kBoxW / 2,
                           top(e.to) + kBoxH)
             : fmt::format("M{},{} L{},{}", x1, y1, x2, y2);
    out += fmt::format(R"svg(<path d="{}" class="edge{}" marker-end="url(#arrow)"><title>{}</title></path>)svg", path,
                       back ? " back" : "", html_escape(plan.port_name(e.from, e.port)));
    if (!back && e.port != 0)
      out += fmt::format(R"(<text x="{}" y="{}" class="port">{}</text>)", (x1 + x2) / 2 - 20, (y1 + y2) / 2 - 4,
                         html_escape(plan.nodes[e.from].kind->outputs[e.port].name));
  }
  for (std::size_t n = 0; n < plan.nodes.size() && n < nodes.size(); ++n) {
    const NodeStats& s = nodes[n];
    const std::string counts = s.destination.empty()
                                   ? fmt::format("in {}  out {}", s.received.load(), s.emitted.load())
                                   : fmt::format("in {}  written {}", s.received.load(), s.ended.load());
    out +=
        fmt::format(R"(<g class="node {}"><rect x="{}" y="{}" width="{}" height="{}" rx="6"/>)"
                    R"(<text x="{}" y="{}" class="name">{}</text><text x="{}" y="{}" class="kind">{}</text>)"
                    R"(<text x="{}" y="{}" class="counts">{}</text></g>)",
                    html_escape(s.kind), left(n), top(n), kBoxW, kBoxH, left(n) + 8, top(n) + 18, html_escape(s.name),
                    left(n) + 8, top(n) + 33, html_escape(s.kind), left(n) + 8, top(n) + 49, counts);
  }
  return out + "</svg>\n";
}

}  // namespace flowbatch
