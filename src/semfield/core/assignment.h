// Minimum-cost assignment (the Hungarian method, Kuhn-Munkres with potentials, O(n^2 m)): which rows go to which
// columns of a cost matrix so that the summed cost is least. Used to match predicted instance slots to ground-truth
// instances (DM-NeRF's instance loss, models/gpnerf). Hand-written: the matrices are at most a few dozen wide, and no
// Debian library we link has it.
#pragma once

#include <vector>

namespace semfield {

/// cost: rows x cols (rows <= cols or not: the smaller side is matched completely). Returns, per row, its column or
/// -1 (rows beyond the number of columns stay unassigned). Costs must be finite.
std::vector<int> min_cost_assignment(const std::vector<std::vector<double>>& cost);

}  // namespace semfield
