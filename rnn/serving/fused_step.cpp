// The fused LSTM step of rnn.serving.decoder.FastDecoder for small batches (see rnn/serving/fused_step.py).
//
// At batch 1 a step of the default model reads 10 MB of weights and does little else, so its time is
// memory bandwidth plus the cost of every separate op. This file does one step in three passes over
// the weights (one per layer, one for the decoder head), with the gate maths of each layer fused into
// its matrix-vector product:
//
// * Hidden units are padded to a multiple of 16 and the gate rows regrouped, per 16 units, as
//   [i x16 | f x16 | o x16 | g x16]. Whoever computes a group's 64 rows then has every gate of its 16
//   units and applies the cell there, vectorised, with no separate elementwise pass.
// * Each output is one chain of 16-lane multiply-adds in k order, reduced in a fixed order, so a row's
//   result does not depend on the batch size or the thread count: a seeded request gets the same text
//   alone or in a batch.
// * Groups are split across torch's intra-op threads (at::parallel_for), the same pool as torch's ops.
//
// Sampling (generate) calls the same ATen ops, in the same order, as rnn.serving.decoder.sample_ids, so the
// fused path and the torch path draw the same characters from the same logits.
#include <torch/extension.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#ifndef RNN_MAX_BATCH
#error "build through rnn/serving/fused_step.py, which defines RNN_MAX_BATCH (rnn.serving.fused_step.MAX_BATCH)"
#endif

namespace {

constexpr int64_t kLanes = 16;             // floats per vector
constexpr int64_t kGroupRows = 4 * kLanes;  // gate rows per group of 16 hidden units
constexpr int64_t kMaxBatch = RNN_MAX_BATCH;  // rows per step this kernel takes (larger batches: oneDNN)

typedef float vf __attribute__((vector_size(64)));    // 16 floats: AVX-512, or pairs of AVX2 registers
typedef int32_t vi __attribute__((vector_size(64)));

inline vf load(const float* p) {
  vf v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store(float* p, vf v) { std::memcpy(p, &v, sizeof v); }

inline vf splat(float x) { return vf{} + x; }

inline float hsum(vf v) {  // a fixed order: the same for every row
  float s[kLanes];
  std::memcpy(s, &v, sizeof v);
  float a[8], b[4];
  for (int i = 0; i < 8; ++i) a[i] = s[i] + s[i + 8];
  for (int i = 0; i < 4; ++i) b[i] = a[i] + a[i + 4];
  return (b[0] + b[2]) + (b[1] + b[3]);
}

// exp(x): x = n ln2 + r with |r| <= ln2/2, exp(r) by its Taylor polynomial to r^7 (relative error
// below 1e-7), times 2^n built in the exponent bits.
inline vf vexp(vf x) {
  x = x < splat(-87.0f) ? splat(-87.0f) : x;
  x = x > splat(88.0f) ? splat(88.0f) : x;
  const vf shifter = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  vf n = (x * splat(1.44269504088896341f) + shifter) - shifter;
  vf r = x - n * splat(0.693145751953125f);
  r = r - n * splat(1.428606765330187045e-06f);
  vf p = splat(1.0f / 5040.0f);
  p = p * r + splat(1.0f / 720.0f);
  p = p * r + splat(1.0f / 120.0f);
  p = p * r + splat(1.0f / 24.0f);
  p = p * r + splat(1.0f / 6.0f);
  p = p * r + splat(0.5f);
  p = p * r + splat(1.0f);
  p = p * r + splat(1.0f);
  vi bits = (__builtin_convertvector(n, vi) + 127) << 23;
  return p * (vf)bits;
}

inline vf vsigmoid(vf x) { return splat(1.0f) / (splat(1.0f) + vexp(-x)); }

inline int64_t round_up(int64_t x, int64_t to) { return (x + to - 1) / to * to; }

// out[m][r] = dot(w[r], x[m]) for rows [0, rows) of w (leading dimension k) and m < batch.
template <int M>
void rows_times(const float* w, int64_t k, int64_t rows, const float* x, float* out, int64_t out_ld) {
  constexpr int R = M >= 8 ? 1 : 8 / M;  // rows at a time: 8 independent chains in flight
  int64_t r = 0;
  for (; r + R <= rows; r += R) {
    vf acc[R][M] = {};
    for (int64_t c = 0; c < k; c += kLanes) {
      vf xs[M];
      for (int m = 0; m < M; ++m) xs[m] = load(x + m * k + c);
      for (int j = 0; j < R; ++j) {
        const vf wv = load(w + (r + j) * k + c);
        for (int m = 0; m < M; ++m) acc[j][m] += wv * xs[m];
      }
    }
    for (int j = 0; j < R; ++j)
      for (int m = 0; m < M; ++m) out[m * out_ld + r + j] = hsum(acc[j][m]);
  }
  for (; r < rows; ++r) {
    vf acc[M] = {};
    for (int64_t c = 0; c < k; c += kLanes) {
      const vf wv = load(w + r * k + c);
      for (int m = 0; m < M; ++m) acc[m] += wv * load(x + m * k + c);
    }
    for (int m = 0; m < M; ++m) out[m * out_ld + r] = hsum(acc[m]);
  }
}

using RowsTimes = void (*)(const float*, int64_t, int64_t, const float*, float*, int64_t);

template <std::size_t... I>
constexpr std::array<RowsTimes, sizeof...(I)> rows_times_table(std::index_sequence<I...>) {
  return {rows_times<static_cast<int>(I) + 1>...};
}
constexpr auto kRowsTimes = rows_times_table(std::make_index_sequence<kMaxBatch>{});  // [n - 1]: n rows

class LstmStep {
 public:
  // table: (vocab, 4H) embedding folded into layer 0 with its biases; weights[l]: (4H, K_l) with
  // K_0 = H and K_l = 2H ([W_ih | W_hh]); biases[l] (4H) for l > 0; gates in the order (i, f, o, 2g)
  // (rnn.serving.decoder._reorder_gates). head: (vocab, H) and its bias.
  LstmStep(torch::Tensor table, std::vector<torch::Tensor> weights, std::vector<torch::Tensor> biases,
           torch::Tensor head_weight, torch::Tensor head_bias, int64_t hidden_size)
      : hidden_(hidden_size),
        padded_(round_up(hidden_size, kLanes)),
        layers_(static_cast<int64_t>(weights.size())),
        vocab_(table.size(0)) {
    TORCH_CHECK(layers_ >= 1, "at least one layer");
    TORCH_CHECK(static_cast<int64_t>(biases.size()) == layers_, "one bias per layer (layer 0's is unused)");
    TORCH_CHECK(table.size(1) == 4 * hidden_, "table must be (vocab, 4H)");
    table_ = regroup_columns(table.contiguous().to(torch::kFloat));
    for (int64_t l = 0; l < layers_; ++l) {
      auto w = weights[l].contiguous().to(torch::kFloat);
      const int64_t inputs = l == 0 ? 1 : 2;
      TORCH_CHECK(w.size(0) == 4 * hidden_ && w.size(1) == inputs * hidden_, "layer ", l,
                  " weight must be (4H, ", inputs, "H)");
      weights_.push_back(regroup_rows(w, inputs));
      biases_.push_back(l == 0 ? torch::Tensor() : regroup_columns(biases[l].reshape({1, -1}).to(torch::kFloat)));
    }
    TORCH_CHECK(head_weight.size(0) == vocab_ && head_weight.size(1) == hidden_, "head must be (vocab, H)");
    head_ = torch::zeros({vocab_, padded_});
    head_.narrow(1, 0, hidden_).copy_(head_weight);
    head_bias_ = head_bias.contiguous().to(torch::kFloat).clone();
  }

  static int64_t max_batch() { return kMaxBatch; }

  // One step for rows [0, n): hidden/cell (capacity, layers x H) in place; logits (capacity, vocab)
  // rows [0, n) written when with_logits.
  void step(torch::Tensor hidden, torch::Tensor cell, torch::Tensor ids, int64_t n, torch::Tensor logits,
            bool with_logits) const {
    check_state(hidden, cell, logits, n);
    TORCH_CHECK(ids.dtype() == torch::kLong && ids.is_contiguous() && ids.numel() >= n, "ids: n int64 ids");
    step_raw(hidden, cell, ids.data_ptr<int64_t>(), n, logits, with_logits);
  }

  // generate_ids at batch n <= max_batch: feeds prompt_ids, then samples length characters per row
  // with uniforms (n, length); writes them to out (n, length) int64.
  void generate(torch::Tensor hidden, torch::Tensor cell, torch::Tensor logits, torch::Tensor prompt_ids,
                torch::Tensor uniforms, double temperature, int64_t top_k, torch::Tensor out) const {
    const int64_t n = out.size(0), length = out.size(1);
    check_state(hidden, cell, logits, n);
    TORCH_CHECK(prompt_ids.dtype() == torch::kLong && prompt_ids.dim() == 1 && prompt_ids.numel() >= 1,
                "prompt_ids: a non-empty 1-d int64 tensor");
    TORCH_CHECK(uniforms.size(0) == n && uniforms.size(1) == length, "uniforms must be (n, length)");
    TORCH_CHECK(out.dtype() == torch::kLong, "out must be int64");
    c10::InferenceMode guard;
    auto written = out.accessor<int64_t, 2>();
    auto prompt = prompt_ids.contiguous();
    const int64_t* prompt_ptr = prompt.data_ptr<int64_t>();
    std::vector<int64_t> ids(n);
    for (int64_t t = 0; t + 1 < prompt.numel(); ++t) {
      std::fill(ids.begin(), ids.end(), prompt_ptr[t]);
      step_raw(hidden, cell, ids.data(), n, logits, false);
    }
    std::fill(ids.begin(), ids.end(), prompt_ptr[prompt.numel() - 1]);
    auto rows = logits.narrow(0, 0, n);
    for (int64_t i = 0; i < length; ++i) {
      step_raw(hidden, cell, ids.data(), n, logits, true);
      // rnn.serving.decoder.sample_ids, op for op
      auto scaled = rows.div(temperature);
      if (top_k > 0 && top_k < vocab_) {
        auto kth = std::get<0>(at::topk(scaled, top_k)).narrow(1, top_k - 1, 1);
        scaled = scaled.masked_fill(scaled < kth, -std::numeric_limits<float>::infinity());
      }
      auto cdf = at::softmax(scaled, -1).cumsum_(-1);
      auto target = uniforms.narrow(1, i, 1).mul(cdf.narrow(1, vocab_ - 1, 1));
      auto picked = at::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true).clamp_max_(vocab_ - 1);
      const int64_t* p = picked.data_ptr<int64_t>();
      for (int64_t m = 0; m < n; ++m) {
        ids[m] = p[m];
        written[m][i] = p[m];
      }
    }
  }

  // BatchingEngine's step (rnn.serving.batching), up to max_steps times in one call, for rows [0, n):
  // feed each row its input (ids), sample its next character from its own uniform at pos with its own
  // temperature and top_k (rnn.serving.decoder.sample_ids with per-row tensors, op for op), write it to
  // out at pos, and move pos on where emit is 1. A row still reading its prompt (feed_at < its prompt's
  // length) gets its next prompt character as input instead and emits from the step after its last one.
  // Stops after the step in which a row reaches its limit, or once interrupt[0] is non-zero (a request
  // arrived or left: the engine re-forms the batch). Returns the steps taken, at least 1. Every buffer
  // is the engine's, updated in place, so stopping anywhere leaves it where Python steps would have.
  int64_t advance(torch::Tensor hidden, torch::Tensor cell, torch::Tensor logits, int64_t n, torch::Tensor ids,
                  torch::Tensor pos, torch::Tensor limit, torch::Tensor emit, torch::Tensor temperature,
                  torch::Tensor top_k, bool filter_top_k, torch::Tensor uniforms, torch::Tensor out,
                  std::vector<torch::Tensor> prompts, torch::Tensor feed_at, int64_t max_steps,
                  torch::Tensor interrupt) const {
    check_state(hidden, cell, logits, n);
    TORCH_CHECK(max_steps >= 1, "max_steps must be >= 1, got ", max_steps);
    for (const auto* t : {&ids, &pos, &limit, &emit, &top_k, &feed_at}) {
      TORCH_CHECK(t->dtype() == torch::kLong && t->dim() == 1 && t->is_contiguous() && t->size(0) >= n,
                  "ids, pos, limit, emit, top_k and feed_at must be contiguous 1-d int64 with >= n rows");
    }
    TORCH_CHECK(temperature.dtype() == torch::kFloat && temperature.dim() == 2 && temperature.size(0) >= n &&
                    temperature.size(1) == 1,
                "temperature must be float (capacity, 1)");
    TORCH_CHECK(uniforms.dtype() == torch::kFloat && uniforms.dim() == 2 && uniforms.size(0) >= n,
                "uniforms must be float (capacity, length)");
    TORCH_CHECK(out.dtype() == torch::kLong && out.dim() == 2 && out.is_contiguous() && out.size(0) >= n &&
                    out.size(1) == uniforms.size(1),
                "out must be contiguous int64 (capacity, length), as long as uniforms");
    TORCH_CHECK(static_cast<int64_t>(prompts.size()) == n, "one prompt per row (", n, "), got ", prompts.size());
    TORCH_CHECK(interrupt.dtype() == torch::kInt && interrupt.numel() == 1 && interrupt.is_contiguous(),
                "interrupt must be one int32");
    int64_t* input = ids.data_ptr<int64_t>();
    int64_t* at = pos.data_ptr<int64_t>();
    int64_t* emitting = emit.data_ptr<int64_t>();
    int64_t* fed = feed_at.data_ptr<int64_t>();
    const int64_t* stop_at = limit.data_ptr<int64_t>();
    const int64_t length = out.size(1);
    std::vector<const int64_t*> prompt(n);
    std::vector<int64_t> prompt_length(n);
    for (int64_t m = 0; m < n; ++m) {
      TORCH_CHECK(prompts[m].dtype() == torch::kLong && prompts[m].dim() == 1 && prompts[m].is_contiguous(),
                  "prompts must be contiguous 1-d int64");
      TORCH_CHECK(stop_at[m] <= length && at[m] < stop_at[m], "row ", m, ": pos ", at[m], " and limit ",
                  stop_at[m], " must satisfy pos < limit <= ", length);
      prompt[m] = prompts[m].data_ptr<int64_t>();
      prompt_length[m] = prompts[m].numel();
    }
    const int32_t* stop = interrupt.data_ptr<int32_t>();
    c10::InferenceMode guard;
    int64_t* written = out.data_ptr<int64_t>();
    auto rows = logits.narrow(0, 0, n);
    auto temperatures = temperature.narrow(0, 0, n);
    auto row_uniforms = uniforms.narrow(0, 0, n);
    auto positions = pos.narrow(0, 0, n).unsqueeze(1);
    torch::Tensor kth_index;
    if (filter_top_k) {  // the same for every step of the call: the rows do not change
      auto k = top_k.narrow(0, 0, n);
      k = at::where((k > 0).bitwise_and(k < vocab_), k, at::full_like(k, vocab_));
      kth_index = (k - 1).unsqueeze(1);
    }
    int64_t taken = 0;
    while (taken < max_steps) {
      step_raw(hidden, cell, input, n, logits, true);
      // rnn.serving.decoder.sample_ids, op for op, with (n, 1) temperatures and (n,) top_k
      auto scaled = rows.div(temperatures);
      if (filter_top_k) {
        auto kth = std::get<0>(scaled.sort(-1, /*descending=*/true)).gather(1, kth_index);
        scaled = scaled.masked_fill(scaled < kth, -std::numeric_limits<float>::infinity());
      }
      auto cdf = at::softmax(scaled, -1).cumsum_(-1);
      auto target = row_uniforms.gather(1, positions).mul(cdf.narrow(1, vocab_ - 1, 1));
      auto picked = at::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true).clamp_max_(vocab_ - 1);
      const int64_t* p = picked.data_ptr<int64_t>();
      bool finished = false;
      for (int64_t m = 0; m < n; ++m) {
        written[m * length + at[m]] = p[m];
        at[m] += emitting[m];
        input[m] = p[m];
        if (fed[m] < prompt_length[m]) {
          input[m] = prompt[m][fed[m]++];
          if (fed[m] == prompt_length[m]) emitting[m] = 1;
        }
        finished = finished || at[m] >= stop_at[m];
      }
      ++taken;
      if (finished || __atomic_load_n(stop, __ATOMIC_ACQUIRE) != 0) break;
    }
    return taken;
  }

 private:
  void check_state(const torch::Tensor& hidden, const torch::Tensor& cell, const torch::Tensor& logits,
                   int64_t n) const {
    TORCH_CHECK(n >= 1 && n <= kMaxBatch, "the fused step takes 1 to ", kMaxBatch, " rows, got ", n);
    for (const auto* t : {&hidden, &cell}) {
      TORCH_CHECK(t->dtype() == torch::kFloat && t->is_contiguous() && t->size(0) >= n &&
                      t->size(1) == layers_ * hidden_,
                  "state buffers must be contiguous float (capacity, layers x H)");
    }
    TORCH_CHECK(logits.dtype() == torch::kFloat && logits.is_contiguous() && logits.size(0) >= n &&
                    logits.size(1) == vocab_,
                "logits must be contiguous float (capacity, vocab)");
  }

  // source row t*H + j (gate t of unit j) -> row (j/16)*64 + t*16 + j%16; units >= H are zero rows
  int64_t regrouped(int64_t t, int64_t j) const { return (j / kLanes) * kGroupRows + t * kLanes + j % kLanes; }

  torch::Tensor regroup_columns(const torch::Tensor& m) const {  // (rows, 4H) -> (rows, 4 padded)
    auto out = torch::zeros({m.size(0), 4 * padded_});
    for (int64_t t = 0; t < 4; ++t)
      for (int64_t j = 0; j < hidden_; ++j) out.select(1, regrouped(t, j)).copy_(m.select(1, t * hidden_ + j));
    return out;
  }

  torch::Tensor regroup_rows(const torch::Tensor& w, int64_t inputs) const {  // (4H, iH) -> (4P, iP)
    auto out = torch::zeros({4 * padded_, inputs * padded_});
    for (int64_t t = 0; t < 4; ++t)
      for (int64_t j = 0; j < hidden_; ++j)
        for (int64_t s = 0; s < inputs; ++s)
          out[regrouped(t, j)].narrow(0, s * padded_, hidden_).copy_(w[t * hidden_ + j].narrow(0, s * hidden_, hidden_));
    return out;
  }

  void step_raw(torch::Tensor& hidden, torch::Tensor& cell, const int64_t* ids, int64_t n,
                torch::Tensor& logits, bool with_logits) const {
    const int64_t H = hidden_, P = padded_, ld = layers_ * H;
    for (int64_t m = 0; m < n; ++m)
      TORCH_CHECK(ids[m] >= 0 && ids[m] < vocab_, "character id ", ids[m], " is outside the vocabulary");
    float* h = hidden.data_ptr<float>();
    float* c = cell.data_ptr<float>();
    const RowsTimes times = kRowsTimes[n - 1];
    std::vector<float> x(n * 2 * P, 0.0f);          // this layer's input rows, padded
    std::vector<float> fresh(layers_ * n * P, 0.0f);  // each layer's new h, padded
    const int64_t groups = P / kLanes;
    for (int64_t l = 0; l < layers_; ++l) {
      const int64_t k = (l == 0 ? 1 : 2) * P;
      for (int64_t m = 0; m < n; ++m) {
        float* xm = x.data() + m * k;
        if (l > 0) std::memcpy(xm, fresh.data() + ((l - 1) * n + m) * P, P * sizeof(float));
        std::memcpy(xm + k - P, h + m * ld + l * H, H * sizeof(float));
        std::fill(xm + k - P + H, xm + k, 0.0f);
      }
      const float* w = weights_[l].data_ptr<float>();
      const float* add = l == 0 ? table_.data_ptr<float>() : biases_[l].data_ptr<float>();
      float* out_h = fresh.data() + l * n * P;
      at::parallel_for(0, groups, 1, [&](int64_t begin, int64_t end) {
        float gates[kMaxBatch * kGroupRows];
        for (int64_t g = begin; g < end; ++g) {
          times(w + g * kGroupRows * k, k, kGroupRows, x.data(), gates, kGroupRows);
          for (int64_t m = 0; m < n; ++m) {
            const float* a = add + (l == 0 ? ids[m] * 4 * P : 0) + g * kGroupRows;
            float* gm = gates + m * kGroupRows;
            const vf i = vsigmoid(load(gm) + load(a));
            const vf f = vsigmoid(load(gm + kLanes) + load(a + kLanes));
            const vf o = vsigmoid(load(gm + 2 * kLanes) + load(a + 2 * kLanes));
            const vf tanh_g = splat(2.0f) * vsigmoid(load(gm + 3 * kLanes) + load(a + 3 * kLanes)) - splat(1.0f);
            const int64_t unit = g * kLanes, valid = std::min(kLanes, H - unit);
            float c_old[kLanes] = {};
            float* cm = c + m * ld + l * H + unit;
            std::memcpy(c_old, cm, valid * sizeof(float));
            const vf c_new = f * load(c_old) + i * tanh_g;
            const vf h_new = o * (splat(2.0f) * vsigmoid(splat(2.0f) * c_new) - splat(1.0f));
            float c_out[kLanes];
            store(c_out, c_new);
            std::memcpy(cm, c_out, valid * sizeof(float));
            store(out_h + m * P + unit, h_new);  // padded units stay 0: their weights are 0
          }
        }
      });
      for (int64_t m = 0; m < n; ++m)
        std::fill(out_h + m * P + H, out_h + (m + 1) * P, 0.0f);
    }
    for (int64_t l = 0; l < layers_; ++l)
      for (int64_t m = 0; m < n; ++m)
        std::memcpy(h + m * ld + l * H, fresh.data() + (l * n + m) * P, H * sizeof(float));
    if (!with_logits) return;
    const float* last = fresh.data() + (layers_ - 1) * n * P;
    float* out = logits.data_ptr<float>();
    const float* hw = head_.data_ptr<float>();
    const float* hb = head_bias_.data_ptr<float>();
    const int64_t V = vocab_;
    at::parallel_for(0, V, 256, [&](int64_t begin, int64_t end) {
      times(hw + begin * P, P, end - begin, last, out + begin, V);
      for (int64_t m = 0; m < n; ++m)
        for (int64_t v = begin; v < end; ++v) out[m * V + v] += hb[v];
    });
  }

  int64_t hidden_, padded_, layers_, vocab_;
  torch::Tensor table_, head_, head_bias_;
  std::vector<torch::Tensor> weights_, biases_;
};

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "The fused small-batch LSTM step of rnn.serving.decoder.FastDecoder (rnn/serving/fused_step.py builds it).";
  pybind11::class_<LstmStep>(m, "LstmStep")
      .def(pybind11::init<torch::Tensor, std::vector<torch::Tensor>, std::vector<torch::Tensor>, torch::Tensor,
                          torch::Tensor, int64_t>())
      .def_static("max_batch", &LstmStep::max_batch)
      .def("step", &LstmStep::step, pybind11::call_guard<pybind11::gil_scoped_release>())
      .def("generate", &LstmStep::generate, pybind11::call_guard<pybind11::gil_scoped_release>())
      .def("advance", &LstmStep::advance, pybind11::call_guard<pybind11::gil_scoped_release>());
}
