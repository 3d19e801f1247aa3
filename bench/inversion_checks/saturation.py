#!/usr/bin/python3
"""Loss and gradient norm over 5 local SGD steps at lr 0.1 on one image, ReLU and
sigmoid LeNet: the saturation behind the local-steps tables of docs/attacks/inversion.md.

  OMP_NUM_THREADS=1 /usr/bin/python3 bench/inversion_checks/saturation.py
"""
import torch, gzip, numpy as np
torch.manual_seed(0)
def net(act):
    m = torch.nn.Sequential(torch.nn.Conv2d(1,12,5,2,2), act(), torch.nn.Conv2d(12,12,5,2,2), act(),
        torch.nn.Conv2d(12,12,5,1,2), act(), torch.nn.Flatten(), torch.nn.Linear(588,10))
    with torch.no_grad():
        for p in m.parameters(): p.uniform_(-0.5,0.5)
    return m
with gzip.open('/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz') as f:
    x = np.frombuffer(f.read()[16:16+784], dtype=np.uint8).astype(np.float32).reshape(1,1,28,28)/255
with gzip.open('/usr/share/datasets/fashion-mnist/train-labels-idx1-ubyte.gz') as f:
    y = torch.tensor([f.read()[8]], dtype=torch.long)
x = torch.tensor(x)
for act in (torch.nn.ReLU, torch.nn.Sigmoid):
  m = net(act); opt = torch.optim.SGD(m.parameters(), lr=0.1)
  for k in range(5):
    opt.zero_grad(); out = m(x); loss = torch.nn.functional.cross_entropy(out, y); loss.backward()
    gn = sum(p.grad.norm()**2 for p in m.parameters())**0.5
    print(act.__name__, k, 'loss', loss.item(), 'grad norm', gn.item(), 'max |logit|', out.abs().max().item())
    opt.step()
