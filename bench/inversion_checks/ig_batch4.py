#!/usr/bin/python3
"""Independent python3-torch check of Inverting Gradients on a batch of 4 images
(sigmoid LeNet of DLG); docs/attacks/inversion.md, "batches of 1, 4, 8".

  OMP_NUM_THREADS=1 nice -n 10 /usr/bin/python3 bench/inversion_checks/ig_batch4.py ITERATIONS SEED
"""
import torch, gzip, numpy as np, sys
torch.set_num_threads(1)
its = int(sys.argv[1]) if len(sys.argv) > 1 else 600
with gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') as f:
    X = np.frombuffer(f.read()[16:16+784*400], dtype=np.uint8).astype(np.float32).reshape(-1,1,28,28)/255
with gzip.open('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz') as f:
    Y = np.frombuffer(f.read()[8:8+400], dtype=np.uint8).astype(np.int64)
idx, seen = [], []
for i in range(400):
    if Y[i] not in seen: seen.append(Y[i]); idx.append(i)
    if len(idx) == 4: break
x = torch.tensor(X[idx]); y = torch.tensor(Y[idx])
print('indices', idx, 'labels', y.tolist(), 'mean intensity', x.mean((1,2,3)).tolist())
torch.manual_seed(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
m = torch.nn.Sequential(torch.nn.Conv2d(1,12,5,2,2), torch.nn.Sigmoid(), torch.nn.Conv2d(12,12,5,2,2), torch.nn.Sigmoid(),
    torch.nn.Conv2d(12,12,5,1,2), torch.nn.Sigmoid(), torch.nn.Flatten(), torch.nn.Linear(588,10))
with torch.no_grad():
    for p in m.parameters(): p.uniform_(-0.5,0.5)
ps = list(m.parameters())
g = torch.autograd.grad(torch.nn.functional.cross_entropy(m(x), y), ps)
tf = torch.cat([t.flatten() for t in g]).detach()
z = torch.randn(4,1,28,28, requires_grad=True)
opt = torch.optim.Adam([z], lr=0.1)
sch = torch.optim.lr_scheduler.MultiStepLR(opt, [its//2.667, its//1.6, its//1.142], 0.1)
def tv(a): return (a[:,:,:,:-1]-a[:,:,:,1:]).abs().mean() + (a[:,:,:-1,:]-a[:,:,1:,:]).abs().mean()
for it in range(its):
    opt.zero_grad()
    gd = torch.autograd.grad(torch.nn.functional.cross_entropy(m(z), y), ps, create_graph=True)
    f = torch.cat([t.flatten() for t in gd])
    loss = 1 - f.dot(tf)/(f.norm()*tf.norm()) + 1e-4*tv(z)
    loss.backward(); z.grad.sign_(); opt.step(); sch.step()
    with torch.no_grad(): z.clamp_(0,1)
r = z.detach().clamp(0,1)
P = [[10*np.log10(1/((r[i]-x[j])**2).mean().item()) for j in range(4)] for i in range(4)]
print('psnr matrix (rec i vs orig j):'); print(np.round(np.array(P),1))
print('loss', loss.item())
