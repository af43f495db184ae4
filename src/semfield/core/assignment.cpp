// Minimum-cost assignment (assignment.h).
#include "semfield/core/assignment.h"

#include <limits>

namespace semfield {

namespace {

/// rows <= cols: every row gets a distinct column. The classic O(n^2 m) shortest-augmenting-path method with row and
/// column potentials u, v (1-based internally; column 0 is the virtual start).
std::vector<int> assign_rows(const std::vector<std::vector<double>>& a, int n, int m) {
  const double inf = std::numeric_limits<double>::infinity();
  std::vector<double> u(n + 1, 0), v(m + 1, 0);
  std::vector<int> p(m + 1, 0), way(m + 1, 0);
  for (int i = 1; i <= n; ++i) {
    p[0] = i;
    int j0 = 0;
    std::vector<double> minv(m + 1, inf);
    std::vector<char> used(m + 1, 0);
    do {
      used[j0] = 1;
      const int i0 = p[j0];
      double delta = inf;
      int j1 = 0;
      for (int j = 1; j <= m; ++j) {
        if (used[j]) continue;
        const double cur = a[i0 - 1][j - 1] - u[i0] - v[j];
        if (cur < minv[j]) {
          minv[j] = cur;
          way[j] = j0;
        }
        if (minv[j] < delta) {
          delta = minv[j];
          j1 = j;
        }
      }
      for (int j = 0; j <= m; ++j) {
        if (used[j]) {
          u[p[j]] += delta;
          v[j] -= delta;
        } else {
          minv[j] -= delta;
        }
      }
      j0 = j1;
    } while (p[j0] != 0);
    do {
      const int j1 = way[j0];
      p[j0] = p[j1];
      j0 = j1;
    } while (j0 != 0);
  }
  std::vector<int> row_to_col(n, -1);
  for (int j = 1; j <= m; ++j)
    if (p[j] != 0) row_to_col[p[j] - 1] = j - 1;
  return row_to_col;
}

}  // namespace

std::vector<int> min_cost_assignment(const std::vector<std::vector<double>>& cost) {
  const int rows = static_cast<int>(cost.size());
  if (rows == 0) return {};
  const int cols = static_cast<int>(cost.front().size());
  if (cols == 0) return std::vector<int>(rows, -1);
  if (rows <= cols) return assign_rows(cost, rows, cols);
  // More rows than columns: assign the columns to rows on the transpose.
  std::vector<std::vector<double>> t(cols, std::vector<double>(rows));
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) t[j][i] = cost[i][j];
  const std::vector<int> col_to_row = assign_rows(t, cols, rows);
  std::vector<int> out(rows, -1);
  for (int j = 0; j < cols; ++j) out[col_to_row[j]] = j;
  return out;
}

}  // namespace semfield
