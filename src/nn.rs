//! The multilayer perceptron shared by the policies and the critic, with CleanRL's
//! orthogonal initialisation (`layer_init`: orthogonal weights scaled by a gain, zero bias).

use burn::module::{Module, Param};
use burn::nn::Linear;
use burn::prelude::*;
use burn::tensor::activation::sigmoid;
use rand::Rng as _;
use rand_distr::StandardNormal;

use crate::Rng;

/// The hidden-layer gain CleanRL uses (`np.sqrt(2)`).
pub const HIDDEN_GAIN: f64 = std::f64::consts::SQRT_2;

/// Fully connected layers with tanh between them (none after the last).
#[derive(Module, Debug)]
pub struct Mlp {
    layers: Vec<Linear>,
}

impl Mlp {
    /// `sizes` = `[input, hidden.., output]`. Hidden layers get gain √2, the output layer
    /// `output_gain` (0.01 for a policy head, 1.0 for a value head).
    pub fn new(sizes: &[usize], output_gain: f64, device: &Device, rng: &mut Rng) -> Self {
        assert!(sizes.len() >= 2, "an MLP needs an input and an output size");
        let last = sizes.len() - 2;
        let layers = sizes
            .windows(2)
            .enumerate()
            .map(|(i, io)| {
                let gain = if i == last { output_gain } else { HIDDEN_GAIN };
                linear(io[0], io[1], gain, device, rng)
            })
            .collect();
        Self { layers }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        self.forward_latent(x).1
    }

    /// The last hidden layer's activations (the input itself without hidden layers), and the
    /// output: SB3's `latent_pi` and what its action head makes of it.
    pub fn forward_latent(&self, mut x: Tensor<2>) -> (Tensor<2>, Tensor<2>) {
        let last = self.layers.len() - 1;
        for layer in &self.layers[..last] {
            x = tanh(layer.forward(x));
        }
        (x.clone(), self.layers[last].forward(x))
    }

    /// Width of [`Mlp::forward_latent`]'s latent.
    pub fn latent_dim(&self) -> usize {
        self.layers.last().expect("at least one layer").weight.lazy_shape().dims::<2>()[0]
    }
}

/// tanh, computed as `2·σ(2x) − 1`: the same function, but burn's flex backend evaluates
/// `tanh` with a scalar `tanhf` per element, which dominated a PPO update's time (57% in a
/// profile of `pvg bench`), while its sigmoid (one `expf`) and its fused sigmoid backward
/// are several times cheaper.
pub fn tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    sigmoid(x * 2.0) * 2.0 - 1.0
}

/// `(input, hidden.., output)` sizes for `depth` hidden layers of `width` units.
pub fn layer_sizes(input: usize, width: usize, depth: usize, output: usize) -> Vec<usize> {
    std::iter::once(input).chain(std::iter::repeat_n(width, depth)).chain(std::iter::once(output)).collect()
}

fn linear(d_in: usize, d_out: usize, gain: f64, device: &Device, rng: &mut Rng) -> Linear {
    // PyTorch's weight is (out, in); burn's Linear stores (in, out): initialise the former and
    // transpose, so the draws match `torch.nn.init.orthogonal_` in distribution.
    let w = orthogonal(d_out, d_in, gain, rng);
    let mut w_t = vec![0f32; d_in * d_out];
    for o in 0..d_out {
        for i in 0..d_in {
            w_t[i * d_out + o] = w[o * d_in + i] as f32;
        }
    }
    Linear {
        weight: Param::from_data(TensorData::new(w_t, [d_in, d_out]), device),
        bias: Some(Param::from_data(TensorData::new(vec![0f32; d_out], [d_out]), device)),
    }
}

/// A `(rows, cols)` matrix with orthonormal rows or columns (whichever are fewer), times
/// `gain`, as `torch.nn.init.orthogonal_` makes it: QR of a standard normal matrix with the
/// signs of `R`'s diagonal folded into `Q`. Row-major.
pub fn orthogonal(rows: usize, cols: usize, gain: f64, rng: &mut Rng) -> Vec<f64> {
    // Orthonormalise the `k` vectors of length `n`, where `k <= n`.
    let (n, k) = if rows >= cols { (rows, cols) } else { (cols, rows) };
    let mut q: Vec<Vec<f64>> = (0..k).map(|_| (0..n).map(|_| rng.sample(StandardNormal)).collect()).collect();
    // Modified Gram-Schmidt: R's diagonal is the norm, positive, so Q already carries the signs
    // torch's sign correction would give.
    for j in 0..k {
        for p in 0..j {
            let (done, rest) = q.split_at_mut(j);
            let (v, u) = (&mut rest[0], &done[p]);
            let dot: f64 = v.iter().zip(u).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(u).for_each(|(a, b)| *a -= dot * b);
        }
        let norm = q[j].iter().map(|v| v * v).sum::<f64>().sqrt();
        q[j].iter_mut().for_each(|v| *v /= norm);
    }
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for c in 0..cols {
            // q[j] is column j of the tall (n, k) factor.
            let v = if rows >= cols { q[c][r] } else { q[r][c] };
            out[r * cols + c] = gain * v;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn gram(m: &[f64], rows: usize, cols: usize, by_rows: bool) -> Vec<f64> {
        let k = if by_rows { rows } else { cols };
        let at = |a: usize, i: usize| if by_rows { m[a * cols + i] } else { m[i * cols + a] };
        let len = if by_rows { cols } else { rows };
        let mut g = vec![0.0; k * k];
        for a in 0..k {
            for b in 0..k {
                g[a * k + b] = (0..len).map(|i| at(a, i) * at(b, i)).sum();
            }
        }
        g
    }

    #[test]
    fn tanh_matches_the_standard_library() {
        let xs: Vec<f32> = (-400..=400).map(|i| i as f32 / 40.0).collect();
        let device = Device::flex();
        let t = tanh(Tensor::<1>::from_data(TensorData::new(xs.clone(), [xs.len()]), &device));
        let ys: Vec<f32> = pollster::block_on(crate::host::read(t)).unwrap();
        for (x, y) in xs.iter().zip(ys) {
            assert!((y - x.tanh()).abs() < 2e-7, "tanh({x}) = {y}, want {}", x.tanh());
        }
    }

    #[test]
    fn orthogonal_has_orthonormal_rows_or_columns_times_gain() {
        let mut rng = Rng::seed_from_u64(0);
        for (rows, cols, gain) in [(64, 4, 2f64.sqrt()), (2, 64, 0.01), (64, 64, 1.0)] {
            let m = orthogonal(rows, cols, gain, &mut rng);
            let by_rows = rows < cols;
            let g = gram(&m, rows, cols, by_rows);
            let k = rows.min(cols);
            for a in 0..k {
                for b in 0..k {
                    let want = if a == b { gain * gain } else { 0.0 };
                    assert!((g[a * k + b] - want).abs() < 1e-9, "{rows}x{cols} G[{a},{b}]");
                }
            }
        }
    }
}
