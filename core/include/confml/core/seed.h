// confml/core/seed.h: deterministic random streams derived by name.
//
// One experiment seed derives every random stream of a run, so that adding a
// new consumer of randomness never shifts the numbers of another:
//
//   Seed root(42);
//   Rng part_rng = root.Child("data").Child("partition").MakeRng();
//   uint64_t init = root.Child("model").Child("init").value();
//   Seed client = root.Child("fl").Child("round", 7).Child("client", 12);
//
// Derivation is a keyed mix (SplitMix64 over FNV-1a of the name), fixed
// forever: a config and seed give the same streams on every machine, compiler
// and thread count. Rng is our own xoshiro256** with our own distributions,
// because the standard library's distributions are implementation-defined.
//
// Seed and Rng are values; an Rng is not thread-safe, give each thread its own.
#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace confml {

class Rng;

class Seed {
 public:
  explicit constexpr Seed(uint64_t value) : value_(value) {}

  uint64_t value() const { return value_; }
  Seed Child(std::string_view name) const;
  Seed Child(std::string_view name, uint64_t index) const;
  Rng MakeRng() const;

 private:
  uint64_t value_;
};

class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t NextU64();
  // Uniform in [0, n), unbiased (Lemire's method). Precondition: n > 0.
  uint64_t UniformInt(uint64_t n);
  // Uniform in [0, 1) with 53 random bits.
  double Uniform();
  // Standard normal (Marsaglia polar method; the spare value is cached).
  double Normal();
  // Gamma(shape, 1) by Marsaglia and Tsang (2000); shape > 0.
  double Gamma(double shape);
  // A Dirichlet(alpha, ..., alpha) draw of dimension k.
  std::vector<double> Dirichlet(double alpha, int k);

  // Fisher-Yates shuffle.
  template <typename T>
  void Shuffle(std::vector<T>& v) {
    for (size_t i = v.size(); i > 1; --i) {
      size_t j = static_cast<size_t>(UniformInt(i));
      std::swap(v[i - 1], v[j]);
    }
  }
  // A uniformly random permutation of 0..n-1.
  std::vector<int64_t> Permutation(int64_t n);
  // k distinct indices from 0..n-1, in the order drawn. Precondition k <= n.
  std::vector<int64_t> SampleWithoutReplacement(int64_t n, int64_t k);

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace confml
