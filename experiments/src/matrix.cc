#include "confml/experiments/matrix.h"

#include <hdf5.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include "confml/core/file_util.h"
#include "confml/experiments/runner.h"
#include "h5_util.h"
#include "matrix_internal.h"
#include "run_dir.h"

namespace confml::experiments {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string Trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  const size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Splits on blanks outside brackets, so "a.b=[x, y]" stays one token.
std::vector<std::string> Tokens(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  int depth = 0;
  for (char c : s) {
    if (c == '[') ++depth;
    if (c == ']') --depth;
    if ((c == ' ' || c == '\t') && depth <= 0) {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

std::string ConfigDir(const ExperimentConfig& config) {
  if (config.source.empty() || config.source == "<string>") return ".";
  const std::filesystem::path p = std::filesystem::path(config.source).parent_path();
  return p.empty() ? "." : p.string();
}

StatusOr<std::vector<MatrixAxisEntry>> ParseAxis(const ExperimentConfig& config,
                                                 const std::string& key, bool rows) {
  std::vector<MatrixAxisEntry> out;
  std::set<std::string> labels;
  for (const std::string& text : config.section("matrix").keys.StringList(key)) {
    const std::string where = "matrix." + key + ": '" + text + "'";
    const size_t colon = text.find(": ");
    if (colon == std::string::npos) {
      return InvalidArgumentError(where + ": expected \"<label>: " +
                                  (rows ? "<base.yaml> " : "") + "section.key=value ...\"");
    }
    MatrixAxisEntry e;
    e.label = Trim(text.substr(0, colon));
    if (e.label.empty()) return InvalidArgumentError(where + ": empty label");
    if (!labels.insert(e.label).second) {
      return InvalidArgumentError(where + ": label '" + e.label + "' appears twice");
    }
    std::vector<std::string>* target = &e.overrides;
    for (const std::string& t : Tokens(text.substr(colon + 2))) {
      if (t == "tiny:" || t == "small:" || t == "full:") {
        target = &e.size_overrides[t.substr(0, t.size() - 1)];
      } else if (t.find('=') != std::string::npos) {
        target->push_back(t);
      } else if (rows && e.base.empty() && e.overrides.empty() && e.size_overrides.empty()) {
        const std::filesystem::path p(t);
        e.base = p.is_absolute() ? t : (std::filesystem::path(ConfigDir(config)) / p).string();
      } else {
        return InvalidArgumentError(where + ": '" + t + "' is neither " +
                                    (rows ? "the base config (first) nor " : "") +
                                    "an override section.key=value");
      }
    }
    if (rows && e.base.empty()) {
      return InvalidArgumentError(where + ": a row needs a base config file");
    }
    out.push_back(std::move(e));
  }
  if (out.empty()) return InvalidArgumentError("matrix." + key + ": empty");
  return out;
}

// Whether experiments of `kind` use `section` (unknown sections count as
// used, so that validation reports them).
bool SectionUsed(const std::string& section, const std::string& kind) {
  static const std::vector<SectionInfo> schema = ConfigSchema();
  for (const SectionInfo& s : schema) {
    if (s.name != section) continue;
    return s.kinds.empty() || std::find(s.kinds.begin(), s.kinds.end(), kind) != s.kinds.end();
  }
  return true;
}

std::string OverrideSection(const std::string& o) { return o.substr(0, o.find('.')); }

// The run's attack report names its success metric in the event
// "attack <name>: <metric> <value> ...".
std::string SuccessMetricFromEvents(const std::vector<std::string>& events) {
  for (const std::string& e : events) {
    if (e.rfind("attack ", 0) != 0) continue;
    const size_t colon = e.find(": ");
    if (colon == std::string::npos) continue;
    const size_t end = e.find(' ', colon + 2);
    return e.substr(colon + 2, end == std::string::npos ? std::string::npos : end - colon - 2);
  }
  return "success";
}

// The attack's note, which the runner appends to that event after "; ".
std::string AttackNoteFromEvents(const std::vector<std::string>& events) {
  for (const std::string& e : events) {
    if (e.rfind("attack ", 0) != 0) continue;
    const size_t sep = e.find("); ");
    return sep == std::string::npos ? "" : e.substr(sep + 3);
  }
  return "";
}

double Get(const std::map<std::string, double>& m, const std::string& k) {
  auto it = m.find(k);
  return it == m.end() ? kNaN : it->second;
}

std::string Num(double v, int precision = 3) {
  if (std::isnan(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", precision, v);
  return buf;
}

}  // namespace

namespace internal {

StatusOr<MatrixCell> CellFromRun(const ExperimentConfig& cell_config, const RunResult& r) {
  MatrixCell c;
  c.kind = cell_config.kind();
  c.tee_seconds = r.tee_cost.total_seconds();
  for (const AdmissionRecord& a : r.admissions) c.refusals += a.admitted ? 0 : 1;
  if (c.kind == "federated") {
    if (r.outcome.find("attack.success") == r.outcome.end()) {
      return InvalidArgumentError("matrix cell of kind federated has no attack section");
    }
    c.success_metric = SuccessMetricFromEvents(r.events);
    c.note = AttackNoteFromEvents(r.events);
    c.success = Get(r.outcome, "attack.success");
    c.blind_guess = Get(r.outcome, "attack.blind_guess");
    c.received_input = Get(r.outcome, "attack.received_input") > 0.5;
    c.higher_is_better = c.success_metric.find("mse") == std::string::npos;
    c.utility_metric = "final_test_accuracy";
    c.utility = r.final_test_accuracy;
    return c;
  }
  if (c.kind == "flow") {
    const std::string scenario = cell_config.String("flow", "scenario");
    if (scenario == "on_device_inference") {
      // Model leak: the host's copy scored against the original; without
      // the bytes the host's best is a model it initialised itself.
      c.success_metric = "stolen_model_agreement";
      c.success = Get(r.outcome, "stolen_model_agreement");
      c.blind_guess = Get(r.outcome, "stolen_model_blind_agreement");
      c.received_input = Get(r.outcome, "host_read_ok") > 0.5;
      c.utility_metric = "word_accuracy";
    } else if (scenario == "server_training" || scenario == "server_inference") {
      // Data leak: the share of the user's inputs that left the runtime's
      // realm; an attacker that got nothing has leaked nothing (0).
      c.success_metric = "leak_fraction";
      c.success = Get(r.outcome, "leak_fraction");
      c.blind_guess = 0.0;
      c.received_input = Get(r.outcome, "inputs_leaked") > 0;
      c.utility_metric =
          scenario == "server_training" ? "word_accuracy_after" : "inference_accuracy";
    } else {
      return InvalidArgumentError("matrix: flow scenario '" + scenario +
                                  "' has no attack to score (on_device_inference with "
                                  "host_attack, or server_training / server_inference)");
    }
    if (r.outcome.find(c.success_metric) == r.outcome.end()) {
      return InvalidArgumentError("matrix: the flow reported no " + c.success_metric);
    }
    c.utility = Get(r.outcome, c.utility_metric);
    return c;
  }
  return InvalidArgumentError("matrix: a cell must be of kind federated or flow, not '" + c.kind +
                              "'");
}

}  // namespace internal

StatusOr<std::vector<MatrixAxisEntry>> MatrixRows(const ExperimentConfig& config) {
  return ParseAxis(config, "rows", true);
}
StatusOr<std::vector<MatrixAxisEntry>> MatrixColumns(const ExperimentConfig& config) {
  return ParseAxis(config, "columns", false);
}

StatusOr<std::vector<ExperimentConfig>> MatrixCellConfigs(const ExperimentConfig& config) {
  CONFML_ASSIGN_OR_RETURN(std::vector<MatrixAxisEntry> rows, MatrixRows(config));
  CONFML_ASSIGN_OR_RETURN(std::vector<MatrixAxisEntry> columns, MatrixColumns(config));
  const SectionConfig& m = config.section("matrix");
  const std::string size = m.keys.String("size");
  const std::vector<std::string> size_overrides = m.keys.StringList(size);
  std::vector<ExperimentConfig> out;
  for (const MatrixAxisEntry& row : rows) {
    StatusOr<ExperimentConfig> base = LoadExperimentConfig(row.base, row.overrides);
    if (!base.ok()) return base.status().WithContext("matrix row '" + row.label + "'");
    const std::string kind = base->kind();
    if (kind != "federated" && kind != "flow") {
      return InvalidArgumentError("matrix row '" + row.label + "': kind '" + kind +
                                  "' (a cell is a federated or flow experiment)");
    }
    for (const MatrixAxisEntry& col : columns) {
      std::vector<std::string> o;
      auto add = [&](const std::vector<std::string>& list) {
        for (const std::string& s : list) {
          if (SectionUsed(OverrideSection(s), kind)) o.push_back(s);
        }
      };
      add(size_overrides);
      o.insert(o.end(), row.overrides.begin(), row.overrides.end());
      if (auto it = row.size_overrides.find(size); it != row.size_overrides.end()) {
        o.insert(o.end(), it->second.begin(), it->second.end());
      }
      add(col.overrides);
      if (auto it = col.size_overrides.find(size); it != col.size_overrides.end()) add(it->second);
      // Every cell shares the matrix's seed and threads.
      o.push_back("experiment.seed=" + std::to_string(config.seed()));
      o.push_back("experiment.threads=" + std::to_string(config.Int("experiment", "threads")));
      StatusOr<ExperimentConfig> cell = LoadExperimentConfig(row.base, o);
      if (!cell.ok()) {
        return cell.status().WithContext("matrix cell '" + row.label + "' x '" + col.label + "'");
      }
      out.push_back(std::move(*cell));
    }
  }
  return out;
}

StatusOr<MatrixResult> RunMatrix(const ExperimentConfig& config,
                                 const std::function<void(const MatrixCell&)>& on_cell) {
  CONFML_ASSIGN_OR_RETURN(std::vector<MatrixAxisEntry> rows, MatrixRows(config));
  CONFML_ASSIGN_OR_RETURN(std::vector<MatrixAxisEntry> columns, MatrixColumns(config));
  CONFML_ASSIGN_OR_RETURN(std::vector<ExperimentConfig> cells, MatrixCellConfigs(config));
  MatrixResult m;
  m.name = config.name();
  m.size = config.String("matrix", "size");
  for (const auto& r : rows) m.rows.push_back(r.label);
  for (const auto& c : columns) m.columns.push_back(c.label);
  RunOptions options;
  options.write_run_dir = false;
  options.progress = ProgressMode::kNone;
  for (size_t i = 0; i < cells.size(); ++i) {
    const std::string& row = m.rows[i / m.columns.size()];
    const std::string& col = m.columns[i % m.columns.size()];
    const auto t0 = std::chrono::steady_clock::now();
    StatusOr<RunResult> r = RunExperiment(cells[i], options);
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!r.ok()) return r.status().WithContext("matrix cell '" + row + "' x '" + col + "'");
    StatusOr<MatrixCell> cell = internal::CellFromRun(cells[i], *r);
    if (!cell.ok()) return cell.status().WithContext("matrix cell '" + row + "' x '" + col + "'");
    cell->row = row;
    cell->column = col;
    cell->wall_seconds = wall;
    if (on_cell) on_cell(*cell);
    m.cells.push_back(std::move(*cell));
  }
  return m;
}

std::string MatrixMarkdown(const MatrixResult& m) {
  std::string out = "Attack success (utility), " + m.name + " at size " + m.size + "\n\n";
  out += "| attack (metric, blind guess) |";
  std::string rule = "|---|";
  for (const std::string& c : m.columns) {
    out += " " + c + " |";
    rule += "---|";
  }
  out += "\n" + rule + "\n";
  for (size_t i = 0; i < m.rows.size(); ++i) {
    const MatrixCell& first = m.at(i, 0);
    double blind = kNaN;
    for (size_t j = 0; j < m.columns.size() && std::isnan(blind); ++j) blind = m.at(i, j).blind_guess;
    out += "| " + m.rows[i] + " (" + first.success_metric + ", blind " + Num(blind) + ") |";
    for (size_t j = 0; j < m.columns.size(); ++j) {
      const MatrixCell& c = m.at(i, j);
      // Appended piece by piece: `"literal" + std::string&&` makes GCC 12
      // at -O3 report a bogus -Wstringop-overflow in string::insert (GCC
      // PR 105545).
      out += ' ';
      out += std::isnan(c.success) ? std::string("undefined") : Num(c.success);
      out += c.received_input ? " (" : "* (";
      out += Num(c.utility);
      out += ") |";
    }
    out += "\n";
  }
  out += "\n`*`: the protocol never handed the attack the bytes it needs. Utility: final test "
         "accuracy (federated) or the flow's task accuracy.\n";
  for (const MatrixCell& c : m.cells) {
    if (!std::isnan(c.success)) continue;
    out += "`undefined`: " + c.row + " x " + c.column + ": " + c.success_metric +
           " is not defined in this run (" + (c.note.empty() ? "the attack gave no reason" : c.note) +
           ").\n";
  }
  out += "\n";
  out += "Cost: wall seconds / modeled TEE seconds\n\n| attack |";
  for (const std::string& c : m.columns) out += " " + c + " |";
  out += "\n" + rule + "\n";
  for (size_t i = 0; i < m.rows.size(); ++i) {
    out += "| " + m.rows[i] + " |";
    for (size_t j = 0; j < m.columns.size(); ++j) {
      const MatrixCell& c = m.at(i, j);
      out += ' ';
      out += Num(c.wall_seconds);
      out += " / ";
      out += Num(c.tee_seconds);
      out += " |";
    }
    out += "\n";
  }
  return out;
}

std::string MatrixCsv(const MatrixResult& m) {
  auto quote = [](const std::string& s) {
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  std::string out =
      "row,column,kind,success_metric,success,blind_guess,higher_is_better,received_input,"
      "utility_metric,utility,wall_seconds,tee_seconds,refusals,note\n";
  for (const MatrixCell& c : m.cells) {
    out += quote(c.row) + "," + quote(c.column) + "," + c.kind + "," + c.success_metric + "," +
           Num(c.success, 9) + "," + Num(c.blind_guess, 9) + "," +
           (c.higher_is_better ? "1" : "0") + "," + (c.received_input ? "1" : "0") + "," +
           c.utility_metric + "," + Num(c.utility, 9) + "," + Num(c.wall_seconds, 6) + "," +
           Num(c.tee_seconds, 6) + "," + std::to_string(c.refusals) + "," + quote(c.note) + "\n";
  }
  return out;
}

namespace {

using internal::H5Handle;
using internal::WriteH5Strings;

Status H5Fail(const std::string& what) { return UnavailableError("HDF5: cannot write " + what); }

Status WriteH5Grid(hid_t file, const std::string& name, const MatrixResult& m,
                   const std::function<double(const MatrixCell&)>& field) {
  const hsize_t dims[2] = {m.rows.size(), m.columns.size()};
  std::vector<double> values;
  for (const MatrixCell& c : m.cells) values.push_back(field(c));
  H5Handle space(H5Screate_simple(2, dims, nullptr), H5Sclose);
  H5Handle ds(H5Dcreate2(file, name.c_str(), H5T_NATIVE_DOUBLE, space.get(), H5P_DEFAULT,
                         H5P_DEFAULT, H5P_DEFAULT),
              H5Dclose);
  if (!ds.ok() ||
      H5Dwrite(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0) {
    return H5Fail(name);
  }
  return OkStatus();
}

}  // namespace

Status WriteMatrixH5(const std::string& path, const MatrixResult& m) {
  if (m.cells.size() != m.rows.size() * m.columns.size()) {
    return InvalidArgumentError("matrix: " + std::to_string(m.cells.size()) + " cells for " +
                                std::to_string(m.rows.size()) + " x " +
                                std::to_string(m.columns.size()));
  }
  std::lock_guard<std::mutex> lock(internal::Hdf5Mutex());
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  const std::string tmp = TempPathFor(path);
  {
    H5Handle file(H5Fcreate(tmp.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT), H5Fclose);
    if (!file.ok()) return UnavailableError("HDF5: cannot create " + tmp);
    const hid_t f = file.get();
    CONFML_RETURN_IF_ERROR(WriteH5Strings(f, "rows", m.rows));
    CONFML_RETURN_IF_ERROR(WriteH5Strings(f, "columns", m.columns));
    std::vector<std::string> success_metric, utility_metric, kind, note;
    for (const MatrixCell& c : m.cells) {
      success_metric.push_back(c.success_metric);
      utility_metric.push_back(c.utility_metric);
      kind.push_back(c.kind);
      note.push_back(c.note);
    }
    CONFML_RETURN_IF_ERROR(WriteH5Strings(f, "note", note));
    CONFML_RETURN_IF_ERROR(WriteH5Strings(f, "success_metric", success_metric));
    CONFML_RETURN_IF_ERROR(WriteH5Strings(f, "utility_metric", utility_metric));
    CONFML_RETURN_IF_ERROR(WriteH5Strings(f, "kind", kind));
    CONFML_RETURN_IF_ERROR(WriteH5Strings(f, "size", {m.size}));
    CONFML_RETURN_IF_ERROR(WriteH5Grid(f, "success", m, [](auto& c) { return c.success; }));
    CONFML_RETURN_IF_ERROR(
        WriteH5Grid(f, "blind_guess", m, [](auto& c) { return c.blind_guess; }));
    CONFML_RETURN_IF_ERROR(WriteH5Grid(f, "utility", m, [](auto& c) { return c.utility; }));
    CONFML_RETURN_IF_ERROR(
        WriteH5Grid(f, "wall_seconds", m, [](auto& c) { return c.wall_seconds; }));
    CONFML_RETURN_IF_ERROR(
        WriteH5Grid(f, "tee_seconds", m, [](auto& c) { return c.tee_seconds; }));
    CONFML_RETURN_IF_ERROR(WriteH5Grid(f, "received_input", m,
                                       [](auto& c) { return c.received_input ? 1.0 : 0.0; }));
    CONFML_RETURN_IF_ERROR(WriteH5Grid(f, "higher_is_better", m,
                                       [](auto& c) { return c.higher_is_better ? 1.0 : 0.0; }));
    CONFML_RETURN_IF_ERROR(WriteH5Grid(f, "refusals", m,
                                       [](auto& c) { return static_cast<double>(c.refusals); }));
  }
  return CommitTempFile(tmp, path);
}

namespace internal {

StatusOr<RunResult> RunMatrixKind(const ExperimentConfig& config, const RunOptions& options) {
  const auto start = std::chrono::system_clock::now();
  const bool log = options.progress != ProgressMode::kNone;
  StatusOr<MatrixResult> m = RunMatrix(config, [&](const MatrixCell& c) {
    if (!log) return;
    std::fprintf(stderr, "matrix: %s x %s: %s %s (utility %s) in %.1f s%s%s\n", c.row.c_str(),
                 c.column.c_str(), c.success_metric.c_str(),
                 std::isnan(c.success) ? "undefined" : Num(c.success).c_str(),
                 Num(c.utility).c_str(), c.wall_seconds, std::isnan(c.success) ? ": " : "",
                 std::isnan(c.success) ? c.note.c_str() : "");
  });
  if (!m.ok()) return m.status();
  RunResult result;
  const std::string md = MatrixMarkdown(*m);
  size_t pos = 0;
  while (pos < md.size()) {
    const size_t nl = md.find('\n', pos);
    result.events.push_back(md.substr(pos, nl == std::string::npos ? nl : nl - pos));
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
  result.outcome["matrix.cells"] = static_cast<double>(m->cells.size());
  double wall = 0.0, tee = 0.0;
  for (const MatrixCell& c : m->cells) {
    wall += c.wall_seconds;
    tee += c.tee_seconds;
  }
  result.outcome["matrix.wall_seconds"] = wall;
  result.outcome["matrix.tee_seconds"] = tee;
  if (options.write_run_dir) {
    CONFML_ASSIGN_OR_RETURN(result.run_dir,
                            CreateRunDir(config.String("experiment", "output_dir"), config.name(),
                                         config.seed(), start));
    // All four files or no folder: `confml plot` and readers take a folder
    // with matrix.md for a finished matrix.
    RunDirGuard discard_unless_kept(result.run_dir);
    CONFML_RETURN_IF_ERROR(WriteFileAtomically(result.run_dir + "/config.yaml", config.ToYaml()));
    CONFML_RETURN_IF_ERROR(WriteFileAtomically(result.run_dir + "/matrix.md", md));
    CONFML_RETURN_IF_ERROR(WriteFileAtomically(result.run_dir + "/matrix.csv", MatrixCsv(*m)));
    CONFML_RETURN_IF_ERROR(WriteMatrixH5(result.run_dir + "/matrix.h5", *m));
    discard_unless_kept.Keep();
  }
  return result;
}

}  // namespace internal
}  // namespace confml::experiments
