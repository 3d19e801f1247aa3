// The next-letter word task of Islet's word model (examples/confidential-ml):
// three one-hot letters over 28 symbols in, the following letter out.
#include <string>
#include <unordered_set>

#include "confml/core/dataset.h"
#include "confml/core/file_util.h"

namespace confml {
namespace {

bool IsSpaceOrCr(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

int WordSymbolIndex(char c) {
  if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  for (int i = 0; i < kWordAlphabetSize; ++i) {
    if (kWordAlphabet[i] == c) return i;
  }
  return -1;
}

StatusOr<std::vector<std::string>> LoadWordList(const std::string& path, int length,
                                                int64_t max_words) {
  if (length < 1) {
    return InvalidArgumentError("word list '" + path + "': word length must be >= 1, got " +
                                std::to_string(length));
  }
  if (max_words < 0) {
    return InvalidArgumentError("word list '" + path + "': max_words must be >= 0, got " +
                                std::to_string(max_words));
  }
  CONFML_ASSIGN_OR_RETURN(std::string text, ReadFileText(path));
  std::vector<std::string> words;
  std::unordered_set<std::string> seen;
  size_t pos = 0;
  while (pos < text.size() && (max_words == 0 || static_cast<int64_t>(words.size()) < max_words)) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    size_t b = pos;
    size_t e = end;
    pos = end + 1;
    // Surrounding blanks (and a DOS '\r') are formatting, not symbols.
    while (b < e && IsSpaceOrCr(text[b])) ++b;
    while (e > b && IsSpaceOrCr(text[e - 1])) --e;
    if (static_cast<int>(e - b) != length) continue;
    std::string word;
    word.reserve(e - b);
    bool ok = true;
    for (size_t i = b; i < e && ok; ++i) {
      const int idx = WordSymbolIndex(text[i]);
      ok = idx >= 0;
      if (ok) word.push_back(kWordAlphabet[idx]);
    }
    // Words with apostrophes, digits or non-ASCII letters ("café") are dropped.
    if (!ok) continue;
    if (seen.insert(word).second) words.push_back(std::move(word));
  }
  if (words.empty()) {
    return InvalidArgumentError("word list '" + path + "' has no word of exactly " +
                                std::to_string(length) + " symbols from \"" + kWordAlphabet + "\"");
  }
  return words;
}

StatusOr<std::vector<float>> EncodeWordContext(const std::string& context) {
  if (static_cast<int>(context.size()) != kWordContext) {
    return InvalidArgumentError("word context '" + context + "' must have exactly " +
                                std::to_string(kWordContext) + " letters");
  }
  std::vector<float> out(size_t{kWordContext} * kWordAlphabetSize, 0.0f);
  for (int i = 0; i < kWordContext; ++i) {
    const int idx = WordSymbolIndex(context[i]);
    if (idx < 0) {
      return InvalidArgumentError("word context '" + context + "' has symbol '" +
                                  std::string(1, context[i]) + "' outside the alphabet \"" +
                                  kWordAlphabet + "\"");
    }
    out[i * kWordAlphabetSize + idx] = 1.0f;
  }
  return out;
}

StatusOr<Dataset> MakeNextLetterDataset(const std::vector<std::string>& words) {
  Dataset ds;
  ds.name = "words";
  ds.sample_shape = {kWordContext, kWordAlphabetSize};
  ds.num_classes = kWordAlphabetSize;
  const int64_t numel = int64_t{kWordContext} * kWordAlphabetSize;
  for (const std::string& word : words) {
    if (static_cast<int>(word.size()) < kWordContext + 1) {
      return InvalidArgumentError("word '" + word + "' is shorter than " +
                                  std::to_string(kWordContext + 1) +
                                  " letters, so it has no next-letter sample");
    }
    std::vector<int> symbols(word.size());
    for (size_t i = 0; i < word.size(); ++i) {
      symbols[i] = WordSymbolIndex(word[i]);
      if (symbols[i] < 0) {
        return InvalidArgumentError("word '" + word + "' has symbol '" + std::string(1, word[i]) +
                                    "' outside the alphabet \"" + kWordAlphabet + "\"");
      }
    }
    for (size_t start = 0; start + kWordContext < word.size(); ++start) {
      const size_t offset = ds.features.size();
      ds.features.resize(offset + numel, 0.0f);
      for (int k = 0; k < kWordContext; ++k) {
        ds.features[offset + size_t(k) * kWordAlphabetSize + symbols[start + k]] = 1.0f;
      }
      ds.labels.push_back(symbols[start + kWordContext]);
    }
  }
  return ds;
}

}  // namespace confml
