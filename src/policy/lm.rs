//! A character-level decoder-only transformer as a policy, fine-tuned through LoRA adapters.
//!
//! The observation is the context (BOS, the prompt, the completion so far, then padding) as
//! token ids; the action is the next token. A pre-trained base ([`TinyGpt::load_base`]) is frozen
//! and burn's built-in LoRA attaches trainable low-rank adapters to the attention and MLP
//! projections ([`TinyGpt::with_lora`]), so only the adapters learn. A copy of the module
//! (the acting copy, GRPO's reference) shares the base's tensors: cloning a module clones
//! handles, not weights.
//!
//! Built from burn's blocks: `Embedding`, `RmsNorm`, `RotaryEncoding`, `Linear` and the fused
//! causal `attention`.

use burn::module::{Lora, Module, ModuleMapper, Param, ParamGroup};
use burn::nn::{Embedding, Linear, RmsNorm, RmsNormConfig, RotaryEncoding, RotaryEncodingConfig};
use burn::prelude::*;
use burn::store::ModuleRecord;
use burn::tensor::activation::{gelu, log_softmax};
use burn::tensor::module::attention;
use burn::tensor::ops::AttentionModuleOptions;
use rand_distr::{Distribution, Normal};

use super::categorical::{evaluate_categorical, pick_categorical};
use super::{Actions, GroupSampler, Sampling, StochasticPolicy};
use crate::Rng;
use crate::env::text::{CONTEXT, PAD, VOCAB};

/// The shape of the model: every shipped base has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LmShape {
    pub d_model: usize,
    pub heads: usize,
    pub layers: usize,
    /// Hidden units of each block's MLP.
    pub d_mlp: usize,
}

impl LmShape {
    /// The shipped base models' shape.
    pub const BASE: LmShape = LmShape { d_model: 64, heads: 4, layers: 2, d_mlp: 256 };

    /// Parameters of a model of this shape (every weight, bias and norm scale).
    pub fn parameters(self) -> usize {
        let LmShape { d_model: d, layers, d_mlp, .. } = self;
        let linear = |i: usize, o: usize| i * o + o;
        let block = 2 * d + linear(d, 3 * d) + linear(d, d) + linear(d, d_mlp) + linear(d_mlp, d);
        VOCAB * d + layers * block + d + linear(d, VOCAB)
    }
}

/// Pre-norm transformer block: causal self-attention with rotary positions, then a GELU MLP.
#[derive(Module, Debug)]
pub struct Block {
    norm_attn: RmsNorm,
    qkv: Linear,
    out: Linear,
    norm_mlp: RmsNorm,
    up: Linear,
    down: Linear,
}

/// Keys and values `(batch, heads, positions, head_dim)` of one block for the tokens so far.
pub type KeyValues = (Tensor<4>, Tensor<4>);

impl Block {
    /// The block over tokens at positions `start..start + s`. Without `past` they are the whole
    /// sequence so far (causal attention among them); with it, one new token per row that
    /// attends to every earlier position. Returns the keys and values up to the new tokens.
    fn forward(
        &self,
        x: Tensor<3>,
        rope: &RotaryEncoding,
        heads: usize,
        start: usize,
        past: Option<KeyValues>,
    ) -> (Tensor<3>, KeyValues) {
        let [b, s, d] = x.dims();
        let hd = d / heads;
        let qkv = self.qkv.forward(self.norm_attn.forward(x.clone()));
        let part = |i: usize| {
            qkv.clone().slice([0..b, 0..s, i * d..(i + 1) * d]).reshape([b, s, heads, hd]).swap_dims(1, 2)
        };
        let (q, k, v) = (rope.apply(part(0), start), rope.apply(part(1), start), part(2));
        let is_causal = past.is_none();
        let (k, v) = match past {
            Some((past_k, past_v)) => {
                debug_assert_eq!(s, 1, "one new token per row after the first pass");
                (Tensor::cat(vec![past_k, k], 2), Tensor::cat(vec![past_v, v], 2))
            }
            None => (k, v),
        };
        let options = AttentionModuleOptions { scale: None, softcap: None, is_causal };
        let mixed =
            attention(q, k.clone(), v.clone(), None, None, options).swap_dims(1, 2).reshape([b, s, d]);
        let x = x + self.out.forward(mixed);
        let h = gelu(self.up.forward(self.norm_mlp.forward(x.clone())));
        (x + self.down.forward(h), (k, v))
    }
}

#[derive(Module, Debug)]
pub struct TinyGpt {
    embed: Embedding,
    blocks: Vec<Block>,
    norm: RmsNorm,
    head: Linear,
    rope: RotaryEncoding,
    heads: usize,
    /// Divides the logits of the next-token distribution (TRL's `temperature`).
    temperature: f64,
}

/// GPT-2's initialisation: N(0, 0.02) weights, residual projections scaled by 1/√(2·layers),
/// zero biases; drawn from the run's RNG so a seed fixes them.
fn normal(rows: usize, cols: usize, std: f64, device: &Device, rng: &mut Rng) -> Param<Tensor<2>> {
    let dist = Normal::new(0.0, std).expect("a positive std");
    let data: Vec<f32> = (0..rows * cols).map(|_| dist.sample(rng) as f32).collect();
    Param::from_data(TensorData::new(data, [rows, cols]), device)
}

fn linear(d_in: usize, d_out: usize, std: f64, device: &Device, rng: &mut Rng) -> Linear {
    Linear {
        weight: normal(d_in, d_out, std, device, rng),
        bias: Some(Param::from_data(TensorData::new(vec![0f32; d_out], [d_out]), device)),
    }
}

impl TinyGpt {
    /// A freshly initialised model (what `pvg pretrain` starts from).
    pub fn new(shape: LmShape, device: &Device, rng: &mut Rng) -> Self {
        let LmShape { d_model: d, heads, layers, d_mlp } = shape;
        assert!(d % heads == 0 && (d / heads) % 2 == 0, "d_model must split into heads of even width");
        let residual = 0.02 / ((2 * layers) as f64).sqrt();
        let norm = || RmsNormConfig::new(d).init(device);
        let blocks = (0..layers)
            .map(|_| Block {
                norm_attn: norm(),
                qkv: linear(d, 3 * d, 0.02, device, rng),
                out: linear(d, d, residual, device, rng),
                norm_mlp: norm(),
                up: linear(d, d_mlp, 0.02, device, rng),
                down: linear(d_mlp, d, residual, device, rng),
            })
            .collect();
        Self {
            embed: Embedding { weight: normal(VOCAB, d, 0.02, device, rng) },
            blocks,
            norm: norm(),
            head: linear(d, VOCAB, 0.02, device, rng),
            rope: RotaryEncodingConfig::new(CONTEXT, d / heads).init(device),
            heads,
            temperature: 1.0,
        }
    }

    /// A base from the bytes `pvg pretrain` wrote (burn's burnpack format), or why not.
    pub fn load_base(bytes: &[u8], device: &Device) -> Result<Self, String> {
        let record = ModuleRecord::from_bytes(burn::tensor::Bytes::from_bytes_vec(bytes.to_vec()))
            .map_err(|e| format!("the language model's weights cannot be read: {e:?}"))?;
        // The architecture is fixed; its initial values are overwritten by the record.
        let template = Self::new(LmShape::BASE, device, &mut <Rng as rand::SeedableRng>::seed_from_u64(0));
        template
            .try_load_record(record)
            .map_err(|e| format!("the language model's weights do not fit its shape: {e:?}"))
    }

    /// The model's weights as burnpack bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.clone().into_record().into_bytes().expect("a module's record serialises").to_vec()
    }

    /// Freeze every weight and attach LoRA adapters of `rank` to the attention and MLP
    /// projections (not the embedding, the norms or the output head). The adapters start as
    /// burn's LoRA does (`A ~ N(0, 1/rank)`, `B = 0`, so the model's outputs are unchanged),
    /// with `A` drawn from the run's RNG.
    pub fn with_lora(self, rank: usize, alpha: f64, rng: &mut Rng) -> Self {
        let projections =
            ParamGroup::from_regex(r"^blocks\.[0-9]+\.(qkv|out|up|down)\.weight$").expect("a valid pattern");
        let model = self.apply_lora(Lora::new(rank, alpha).set_param_group(projections));
        model.map(&mut SeedAdapters { rng, std: 1.0 / rank as f64, in_lora: false, first: true })
    }

    /// Sample and score at `temperature`: the policy is `softmax(logits / temperature)`, as TRL
    /// scores its completions (and its reference's) at the temperature they were sampled at.
    pub fn with_temperature(mut self, temperature: f64) -> Self {
        self.temperature = temperature;
        self
    }

    /// Hidden states `(batch, seq, d_model)` after the final norm.
    pub fn hidden(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.hidden_from(tokens, 0, None).0
    }

    /// Hidden states of tokens at positions `start..`, given the keys and values of the
    /// positions before (`past`, one per block; `None` when `start` is 0), and the keys and
    /// values up to these tokens.
    fn hidden_from(
        &self,
        tokens: Tensor<2, Int>,
        start: usize,
        past: Option<Vec<KeyValues>>,
    ) -> (Tensor<3>, Vec<KeyValues>) {
        let mut x = self.embed.forward(tokens);
        let mut past = past.map(Vec::into_iter);
        let mut cache = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let kv;
            (x, kv) = block.forward(x, &self.rope, self.heads, start, past.as_mut().and_then(Iterator::next));
            cache.push(kv);
        }
        (self.norm.forward(x), cache)
    }

    /// Next-token logits at every position `(batch, seq, vocab)` (teacher forcing).
    pub fn logits(&self, tokens: Tensor<2, Int>) -> Tensor<3> {
        self.head.forward(self.hidden(tokens))
    }

    /// The hidden state `(batch, d_model)` at each context's last token (contexts are
    /// right-padded; an all-padding context, a padded cell of a `(T, G)` batch, reads
    /// position 0).
    pub fn last_hidden(&self, contexts: Tensor<2>) -> Tensor<2> {
        let [b, _] = contexts.dims();
        let tokens = contexts.int();
        let d = self.embed.weight.dims()[1];
        let last = tokens.clone().not_equal_elem(PAD as i64).int().sum_dim(1).sub_scalar(1).clamp_min(0);
        self.hidden(tokens).gather(1, last.reshape([b, 1, 1]).expand([b, 1, d])).reshape([b, d])
    }
}

/// Samples a group's completions with a key/value cache: the prompt is run once for the whole
/// group, then each step feeds one new token per member instead of its whole context.
struct CachedSampler<'a> {
    model: &'a TinyGpt,
    /// Per block, the keys and values of every member `(G, heads, len, head_dim)`.
    cache: Option<Vec<KeyValues>>,
    /// Positions cached.
    len: usize,
    /// Members of the group.
    width: usize,
}

impl GroupSampler for CachedSampler<'_> {
    fn dist_params(&mut self, observations: &[f32], rows: &[usize], device: &Device) -> Tensor<2> {
        let tokens_in = |row: &[f32]| row.iter().take_while(|&&t| t != PAD as f32).count();
        let (hidden, cache) = match self.cache.take() {
            None => {
                // Every member starts from the same context: run it once and share it.
                let first = &observations[..CONTEXT];
                let len = tokens_in(first);
                debug_assert!(
                    observations.chunks(CONTEXT).all(|o| o == first),
                    "one initial state per group"
                );
                self.width = rows.len();
                self.len = len;
                let prompt: Vec<i64> = first[..len].iter().map(|&t| t as i64).collect();
                let tokens = Tensor::<2, Int>::from_data(TensorData::new(prompt, [1, len]), device);
                let (hidden, cache) = self.model.hidden_from(tokens, 0, None);
                let d = hidden.dims()[2];
                let last = hidden.slice([0..1, len - 1..len]).reshape([1, d]).expand([rows.len(), d]);
                let cache = cache
                    .into_iter()
                    .map(|(k, v)| (expand_rows(k, self.width), expand_rows(v, self.width)))
                    .collect();
                (last, cache)
            }
            Some(past) => {
                // One new token per member: the last of its context (padding for those done).
                let mut next = vec![PAD as i64; self.width];
                for (obs, &row) in observations.chunks(CONTEXT).zip(rows) {
                    debug_assert_eq!(tokens_in(obs), self.len + 1, "member {row} took one step");
                    next[row] = obs[self.len] as i64;
                }
                let tokens = Tensor::<2, Int>::from_data(TensorData::new(next, [self.width, 1]), device);
                let (hidden, cache) = self.model.hidden_from(tokens, self.len, Some(past));
                self.len += 1;
                let d = hidden.dims()[2];
                let hidden = hidden.reshape([self.width, d]);
                let running = crate::host::indices(rows, device);
                (hidden.select(0, running), cache)
            }
        };
        self.cache = Some(cache);
        StochasticPolicy::head(self.model, hidden)
    }
}

/// `(1, ...)` repeated to `(g, ...)`.
fn expand_rows(x: Tensor<4>, g: usize) -> Tensor<4> {
    let [_, h, s, d] = x.dims();
    x.expand([g, h, s, d])
}

/// Draws every LoRA `A` factor from the run's RNG instead of burn's global one, so that a
/// seeded run is reproducible. The visitor meets an adapter's `a` first, then `b`.
struct SeedAdapters<'a> {
    rng: &'a mut Rng,
    std: f64,
    in_lora: bool,
    first: bool,
}

impl ModuleMapper for SeedAdapters<'_> {
    fn enter_module(&mut self, name: &str, container_type: &str) {
        if container_type == "Reparameterization" && name == "lora" {
            self.in_lora = true;
            self.first = true;
        }
    }

    fn exit_module(&mut self, name: &str, container_type: &str) {
        if container_type == "Reparameterization" && name == "lora" {
            self.in_lora = false;
        }
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        if !(self.in_lora && std::mem::take(&mut self.first)) {
            return param;
        }
        let shape = param.lazy_shape();
        let dist = Normal::new(0.0, self.std).expect("a positive std");
        let data: Vec<f32> = (0..shape.num_elements()).map(|_| dist.sample(&mut *self.rng) as f32).collect();
        param.map(move |t| {
            let drawn = Tensor::from_data(TensorData::new(data, shape), &t.device());
            if t.is_require_grad() { drawn.require_grad() } else { drawn }
        })
    }
}

impl StochasticPolicy for TinyGpt {
    fn action_width(&self) -> usize {
        1
    }

    /// The hidden state at the context's last token: what the next-token head and PPO's
    /// value head read.
    fn features(&self, observations: Tensor<2>) -> Tensor<2> {
        self.last_hidden(observations)
    }

    fn feature_dim(&self, _obs_dim: usize) -> usize {
        self.embed.weight.dims()[1]
    }

    /// A linear value head on the trunk's hidden state.
    fn critic_depth(&self, _depth: usize) -> usize {
        0
    }

    fn head(&self, features: Tensor<2>) -> Tensor<2> {
        let logits = self.head.forward(features);
        match self.temperature {
            1.0 => log_softmax(logits, 1),
            t => log_softmax(logits.div_scalar(t), 1),
        }
    }

    fn pick(&self, log_probs: &[f32], batch: usize, sampling: &mut Sampling) -> Actions {
        pick_categorical(log_probs, batch, sampling)
    }

    fn evaluate_features(&self, features: Tensor<2>, actions: Tensor<2>) -> (Tensor<1>, Tensor<1>) {
        evaluate_categorical(StochasticPolicy::head(self, features), actions)
    }

    fn group_sampler(&self) -> Box<dyn GroupSampler + '_> {
        Box::new(CachedSampler { model: self, cache: None, len: 0, width: 0 })
    }

    /// One causal pass per trajectory instead of one per step. Step `t`'s context is a
    /// prefix of the trajectory's whole sequence, so the hidden state at its last position is
    /// the same in either pass. The sequence is rebuilt on the device: each step's context with
    /// its action written after it is again a right-padded prefix, and since padding is token 0,
    /// their elementwise maximum over `t` is the longest, the whole sequence. Padded cells (all
    /// padding, action 0) add nothing to it and read position 0: finite values, masked later.
    fn evaluate_padded(&self, observations: Tensor<3>, actions: Tensor<3>) -> (Tensor<2>, Tensor<2>) {
        let [t, g, c] = observations.dims();
        let device = observations.device();
        let tokens = observations.int();
        // Where each step's action goes: after its context's last token.
        let next = tokens.clone().not_equal_elem(PAD as i64).int().sum_dim(2);
        let slots = Tensor::<1, Int>::arange(0..c as i64, &device).reshape([1, 1, c]).expand([t, g, c]);
        let written = tokens
            .mask_where(slots.equal(next.clone().expand([t, g, c])), actions.clone().int().expand([t, g, c]));
        let sequences = written.max_dim(0).reshape([g, c]);
        let hidden = self.hidden(sequences);
        let d = hidden.dims()[2];
        let last = (next - 1).clamp_min(0).reshape([t, g]).swap_dims(0, 1);
        let at_steps = hidden.gather(1, last.reshape([g, t, 1]).expand([g, t, d])).swap_dims(0, 1);
        let (log_probs, entropy) =
            self.evaluate_features(at_steps.reshape([t * g, d]), actions.reshape([t * g, 1]));
        (log_probs.reshape([t, g]), entropy.reshape([t, g]))
    }
}
