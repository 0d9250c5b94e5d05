#pragma once
// Inline SVG for the HTML run report: line charts over time and the graph's drawing. Plain text
// out, no script: the page stays readable offline and in a mail client.
#include <string>
#include <vector>

#include "engine/graph/plan.h"
#include "engine/runtime/metrics.h"

namespace flowbatch {

struct ChartSeries {
  std::string name;
  std::string color;  ///< a CSS color
  std::vector<double> values;
};

/// A line chart of `series` over `seconds` (one value per time in each series), with axes, the
/// largest value and a legend. A chart with fewer than two times says "not enough data yet".
std::string svg_line_chart(const std::string& title, const std::string& unit, const std::vector<double>& seconds,
                           const std::vector<ChartSeries>& series);

/// The graph: nodes in columns by their distance from the sources, each with its counts, and
/// every edge (a retry's way back drawn dashed), named by its port.
std::string svg_graph(const Plan& plan, const std::deque<NodeStats>& nodes);

/// `text` safe inside HTML (and SVG) text and attribute values.
std::string html_escape(std::string_view text);

}  // namespace flowbatch
