#!/usr/bin/python3
"""Per-image loss and gradient norm of the four batch images under seeds 1-4
(sigmoid LeNet of DLG); docs/attacks/inversion.md, "batches of 1, 4, 8".

  OMP_NUM_THREADS=1 /usr/bin/python3 bench/inversion_checks/persample.py
"""
import torch, gzip, numpy as np
torch.set_num_threads(1)
with gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') as f:
    X = np.frombuffer(f.read()[16:16+784*400], dtype=np.uint8).astype(np.float32).reshape(-1,1,28,28)/255
with gzip.open('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz') as f:
    Y = np.frombuffer(f.read()[8:8+400], dtype=np.uint8).astype(np.int64)
x = torch.tensor(X[[0,1,3,5]]); y = torch.tensor(Y[[0,1,3,5]])
for sd in (1,2,3,4):
    torch.manual_seed(sd)
    m = torch.nn.Sequential(torch.nn.Conv2d(1,12,5,2,2), torch.nn.Sigmoid(), torch.nn.Conv2d(12,12,5,2,2), torch.nn.Sigmoid(),
        torch.nn.Conv2d(12,12,5,1,2), torch.nn.Sigmoid(), torch.nn.Flatten(), torch.nn.Linear(588,10))
    with torch.no_grad():
        for p in m.parameters(): p.uniform_(-0.5,0.5)
    ps = list(m.parameters()); norms=[]; losses=[]
    for i in range(4):
        l = torch.nn.functional.cross_entropy(m(x[i:i+1]), y[i:i+1])
        g = torch.autograd.grad(l, ps); norms.append(torch.cat([t.flatten() for t in g]).norm().item()); losses.append(l.item())
    print('seed', sd, 'labels', y.tolist(), 'per-sample loss', np.round(losses,2), 'grad norm', np.round(norms,2))
