#!/usr/bin/python3
"""Independent python3-torch Inverting Gradients on DLG's LeNet (ReLU or sigmoid),
for comparing PSNR trajectories with confml's (docs/attacks/inversion.md,
"Why the untrained ReLU LeNet stayed below 18 dB").

Follows Geiping et al. (arXiv 2003.14053, section 4) and their released
inversefed GradientReconstructor: 1 - cosine similarity of the whole gradient
(their cost_fn 'sim'), plus tv * mean-absolute-difference total variation,
Adam (lr 0.1) on the sign of the gradient, MultiStepLR at iterations // 2.667,
// 1.6, // 1.142 with gamma 0.1, box constraint after every step, start from
N(0, 1) in normalised coordinates (image = mean + std z, as their code
normalises images); the true label is known.

The model's initial weights come either from a file written by confml
(`confml_inversion_sweep --export_weights DIR`: the flat state, float32, in
parameter order, for the ig_relu cases) or from this script's own init:
  dlg_uniform: every weight and bias uniform in [-0.5, 0.5] (DLG's vision.py);
  default:     PyTorch's default Conv2d/Linear init (kaiming-uniform, a = sqrt(5)).

  OMP_NUM_THREADS=1 nice -n 10 /usr/bin/python3 bench/inversion_checks/ig_relu.py \
      --image I [--weights FILE | --init dlg_uniform|default --seed S] \
      [--activation relu|sigmoid] [--iterations 4800] [--tv 0.1] [--pixel]
"""
import argparse, gzip, sys
import numpy as np
import torch

p = argparse.ArgumentParser()
p.add_argument('--image', type=int, default=0)
p.add_argument('--weights', default='')
p.add_argument('--init', default='dlg_uniform', choices=['dlg_uniform', 'default'])
p.add_argument('--seed', type=int, default=0, help='torch seed of the model init (without --weights)')
p.add_argument('--start_seed', type=int, default=1, help='torch seed of the N(0, 1) start')
p.add_argument('--activation', default='relu', choices=['relu', 'sigmoid'])
p.add_argument('--iterations', type=int, default=4800)
p.add_argument('--tv', type=float, default=0.1)
p.add_argument('--pixel', action='store_true', help='optimise pixels in [0, 1] instead of normalised z')
p.add_argument('--trace', default='300,1200,4800')
a = p.parse_args()
torch.set_num_threads(1)

D = '/usr/share/datasets/fashion-mnist/'
with gzip.open(D + 'train-images-idx3-ubyte.gz') as f:
    X = np.frombuffer(f.read()[16:], dtype=np.uint8).astype(np.float32).reshape(-1, 1, 28, 28) / 255
with gzip.open(D + 'train-labels-idx1-ubyte.gz') as f:
    Y = np.frombuffer(f.read()[8:], dtype=np.uint8).astype(np.int64)
# Moments of the whole training set, as confml's sweep computes them.
dm, ds = float(X.mean(dtype=np.float64)), float(X.std(dtype=np.float64))
x = torch.tensor(X[a.image:a.image + 1])
y = torch.tensor(Y[a.image:a.image + 1])

act = torch.nn.ReLU if a.activation == 'relu' else torch.nn.Sigmoid
torch.manual_seed(a.seed)
m = torch.nn.Sequential(torch.nn.Conv2d(1, 12, 5, 2, 2), act(), torch.nn.Conv2d(12, 12, 5, 2, 2), act(),
                        torch.nn.Conv2d(12, 12, 5, 1, 2), act(), torch.nn.Flatten(), torch.nn.Linear(588, 10))
ps = list(m.parameters())
with torch.no_grad():
    if a.weights:
        flat = torch.tensor(np.fromfile(a.weights, dtype='<f4'))
        assert flat.numel() == sum(q.numel() for q in ps), 'weight file size does not match the LeNet'
        o = 0
        for q in ps:
            q.copy_(flat[o:o + q.numel()].view_as(q)); o += q.numel()
    elif a.init == 'dlg_uniform':
        for q in ps: q.uniform_(-0.5, 0.5)

ce = torch.nn.functional.cross_entropy
with torch.no_grad():
    logits = m(x)
g = torch.autograd.grad(ce(m(x), y), ps)
tf = torch.cat([t.flatten() for t in g]).detach()
# Diagnostics: how large the logits are, how many units are dead.
h = x
dead = []
for layer in list(m)[:6]:
    h = layer(h)
    if isinstance(layer, torch.nn.ReLU): dead.append(float((h == 0).float().mean()))
print(f'image {a.image} label {int(y)} init {"file" if a.weights else a.init} act {a.activation}: '
      f'loss {ce(logits, y).item():.3g} max|logit| {logits.abs().max().item():.3g} '
      f'grad norm {tf.norm().item():.3g} dead ReLU fraction per layer {[round(d, 2) for d in dead]}')

torch.manual_seed(a.start_seed)
if a.pixel:
    mean, std = 0.0, 1.0
else:
    mean, std = dm, ds
z = torch.randn(1, 1, 28, 28, requires_grad=True)
lo, hi = (0 - mean) / std, (1 - mean) / std
its = a.iterations
opt = torch.optim.Adam([z], lr=0.1)
sch = torch.optim.lr_scheduler.MultiStepLR(opt, [its // 2.667, its // 1.6, its // 1.142], 0.1)


def tv(v):
    return (v[:, :, :, :-1] - v[:, :, :, 1:]).abs().mean() + (v[:, :, :-1, :] - v[:, :, 1:, :]).abs().mean()


def psnr(v):
    r = (mean + std * v.detach()).clamp(0, 1)
    return 10 * np.log10(1 / ((r - x) ** 2).mean().item())


trace = [int(t) for t in a.trace.split(',')]
out = []
for it in range(its):
    opt.zero_grad()
    gd = torch.autograd.grad(ce(m(mean + std * z), y), ps, create_graph=True)
    f = torch.cat([t.flatten() for t in gd])
    match = 1 - f.dot(tf) / (f.norm() * tf.norm() + 1e-12)
    loss = match + a.tv * tv(z) if a.tv > 0 else match
    loss.backward()
    z.grad.sign_()
    opt.step()
    sch.step()
    with torch.no_grad():
        z.clamp_(lo, hi)
    if it + 1 in trace:
        out.append(f'{it + 1}: {psnr(z):.1f}')
        print(f'  it {it + 1}: psnr {psnr(z):.2f} dB, matching loss {match.item():.3e}', flush=True)
print(f'RESULT image {a.image} psnr at ' + ', '.join(out))
