#!/usr/bin/env python3
"""The PyTorch peer of the GPU run (bench/device.sh): the same Llama shapes, batches and batched LoRA
perturbations as ours, in plain PyTorch (no transformers) on the same GPU, fp32 with TF32 off (our
kernels compute in fp32), so every number of ours has one beside it.

    python3 bench/torch_peer.py PLAN.json OUT.json [--deadline-s N]
    python3 bench/torch_peer.py --self-check     only the check below; exit 0 when it holds

PLAN.json is bench/device.ts's plan (presets' configs, q list, Bsz, T, rank, matmul shapes and rows).
Per preset, with random weights (uniform +-1/sqrt(fan-in), as the bench's random presets):
  forward   B x T tokens, the logits of every position copied to the host (ours: the bench's forward)
  zo[q]     prgeMs: one P-RGE step: 2q x Bsz rows in one pass, LoRA-FA on q and v with B +- eps Z per
            slot (slot-major rows, as DESIGN.md section 1), the LM head at the label positions, the
            per-slot mean cross-entropy, g_i = (L_i - L_{i+q}) / 2 eps, B -= lr / q sum_i g_i Z_i,
            the 2q losses read back; forwardMs: the same rows without LoRA, loss head and readback
            (ours: the ZO overhead's baseline)
  matmul    y = x W^T (torch.mm) at the plan's shapes and rows: GFLOP/s
Times are wall-clock medians after one warm-up, the device synchronised, readbacks included.
OUT.json is rewritten after every row: a run cut short by its time limit still reports.
First a self-check on a tiny GQA model (recorded as "check"): each slot of the batched pass equals a
pass with that slot's B alone, and (L+ + L-) / 2 stays within O(eps^2) of the unperturbed loss.
"""

import json
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F


def now():
    return time.perf_counter()


class Peer:
    def __init__(self, plan, out, deadline):
        self.plan, self.out, self.deadline = plan, out, deadline
        self.dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.set_float32_matmul_precision("highest")
        name = torch.cuda.get_device_name(0) if self.dev.type == "cuda" else "cpu"
        self.report = {
            "torch": torch.__version__, "device": name, "cuda": self.dev.type == "cuda", "dtype": "float32",
            "tf32": torch.backends.cuda.matmul.allow_tf32, "threads": torch.get_num_threads(),
            "presets": [], "matmul": [], "notRun": [], "wallMs": 0,
        }
        self.t0 = now()

    def write(self):
        self.report["wallMs"] = (now() - self.t0) * 1000
        with open(self.out, "w") as f:
            json.dump(self.report, f, indent=1)

    def left(self):
        return self.deadline - now()

    def sync(self):
        if self.dev.type == "cuda":
            torch.cuda.synchronize()

    def timed(self, fn, reps):
        fn()  # warm-up (kernel selection, allocator)
        self.sync()
        samples = []
        for _ in range(reps):
            t = now()
            fn()
            self.sync()
            samples.append((now() - t) * 1000)
        return statistics.median(samples)


def uniform(shape, fan_in, gen, dev):
    b = 1 / math.sqrt(fan_in)
    return (torch.rand(shape, generator=gen, device=dev) * 2 - 1) * b


class Llama:
    """A plain Llama with LoRA-FA on the targets, each slot of the batch with its own B."""

    def __init__(self, c, rank, targets, dev, seed=1234):
        g = torch.Generator(device=dev).manual_seed(seed)
        d, hd, nh, nkv, hid, V = c["dim"], c["headDim"], c["nHeads"], c["nKvHeads"], c["hiddenDim"], c["vocabSize"]
        self.c, self.dev, self.rank, self.scale = c, dev, rank, 2.0  # alpha = 2 rank, as the bench
        self.embed = uniform((V, d), d, g, dev)
        self.out = self.embed if c["sharedClassifier"] else uniform((V, d), d, g, dev)
        self.layers = []
        for _ in range(c["nLayers"]):
            L = {
                "q": uniform((nh * hd, d), d, g, dev), "k": uniform((nkv * hd, d), d, g, dev),
                "v": uniform((nkv * hd, d), d, g, dev), "o": uniform((d, nh * hd), nh * hd, g, dev),
                "gate": uniform((hid, d), d, g, dev), "up": uniform((hid, d), d, g, dev), "down": uniform((d, hid), hid, g, dev),
                "n1": torch.ones(d, device=dev), "n2": torch.ones(d, device=dev), "lora": {},
            }
            for t in targets:  # A frozen (Kaiming-uniform), B trainable, initialised to 0
                out_f, in_f = L[t].shape
                L["lora"][t] = {"A": uniform((rank, in_f), in_f, g, dev), "B": torch.zeros(out_f, rank, device=dev)}
            self.layers.append(L)
        self.norm = torch.ones(d, device=dev)
        T = 4096
        inv = 1.0 / (c["ropeTheta"] ** (torch.arange(0, hd, 2, device=dev, dtype=torch.float32) / hd))
        f = torch.outer(torch.arange(T, device=dev, dtype=torch.float32), inv)
        self.cos, self.sin = torch.cat([f.cos(), f.cos()], -1), torch.cat([f.sin(), f.sin()], -1)

    def rms(self, x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.c["normEps"]) * w

    def rope(self, x, T):  # x [R, H, T, hd]; the pair layout does not change the time
        h = x.shape[-1] // 2
        rot = torch.cat([-x[..., h:], x[..., :h]], -1)
        return x * self.cos[:T] + rot * self.sin[:T]

    def linear(self, x, L, t, Bp):
        y = x @ L[t].T
        if Bp is not None and t in L["lora"]:
            P = Bp[t].shape[0]
            R, T, _ = x.shape
            ax = (x.reshape(P, (R // P) * T, -1) @ L["lora"][t]["A"].T)  # [P, rows, r]
            y = y + self.scale * torch.bmm(ax, Bp[t].transpose(1, 2)).reshape(R, T, -1)
        return y

    def hidden(self, tokens, Bp=None):
        """Final-norm hidden states [R, T, dim]; Bp[l][t]: [P, out, r] per-slot B, or None (no LoRA)."""
        c = self.c
        R, T = tokens.shape
        nh, nkv, hd = c["nHeads"], c["nKvHeads"], c["headDim"]
        x = self.embed[tokens]
        for li, L in enumerate(self.layers):
            bp = Bp[li] if Bp is not None else None
            h = self.rms(x, L["n1"])
            q = self.linear(h, L, "q", bp).view(R, T, nh, hd).transpose(1, 2)
            k = self.linear(h, L, "k", bp).view(R, T, nkv, hd).transpose(1, 2)
            v = self.linear(h, L, "v", bp).view(R, T, nkv, hd).transpose(1, 2)
            q, k = self.rope(q, T), self.rope(k, T)
            if nkv != nh:
                k, v = k.repeat_interleave(nh // nkv, 1), v.repeat_interleave(nh // nkv, 1)
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(R, T, nh * hd)
            x = x + self.linear(a, L, "o", bp)
            h = self.rms(x, L["n2"])
            x = x + self.linear(F.silu(self.linear(h, L, "gate", bp)) * self.linear(h, L, "up", bp), L, "down", bp)
        return self.rms(x, self.norm)

    def slot_losses(self, h, labels, P):
        """Mean cross-entropy per slot over the label positions (all but each sequence's last)."""
        logits = h[:, :-1] @ self.out.T
        nll = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels[:, :-1].reshape(-1), reduction="none")
        return nll.view(P, -1).mean(1)


def zo_row(peer, m, q, tokens, labels, z):
    batch = tokens.shape[0]
    P = 2 * q
    rows_t, rows_l = tokens.repeat(P, 1), labels.repeat(P, 1)  # slot-major: row = p * Bsz + b
    eps, lr = z["eps"], z["lr"]

    def prge():
        with torch.no_grad():
            Zs, Bp = [], []
            for L in m.layers:
                zl, bl = {}, {}
                for t, lo in L["lora"].items():
                    Z = torch.randn((q, *lo["B"].shape), device=m.dev)
                    zl[t], bl[t] = Z, torch.cat([lo["B"] + eps * Z, lo["B"] - eps * Z])
                Zs.append(zl)
                Bp.append(bl)
            losses = m.slot_losses(m.hidden(rows_t, Bp), rows_l, P)
            g = (losses[:q] - losses[q:]) / (2 * eps)
            for L, zl in zip(m.layers, Zs):
                for t, lo in L["lora"].items():
                    lo["B"] -= (lr / q) * torch.einsum("i,ior->or", g, zl[t])
            return losses.cpu()

    def forward():
        with torch.no_grad():
            return m.slot_losses(m.hidden(rows_t), rows_l, P).cpu()

    reps = z["reps"]
    return {"q": q, "rows": P * batch, "prgeMs": peer.timed(prge, reps), "forwardMs": peer.timed(forward, reps)}


def run_preset(peer, p):
    z = peer.plan["zo"]
    c = p["config"]
    res = {"preset": p["name"], "zo": []}
    peer.report["presets"].append(res)
    try:
        m = Llama(c, z["rank"], z["targets"], peer.dev)
        g = torch.Generator(device=peer.dev).manual_seed(7)
        B, T = z["batch"], z["seq"]
        tokens = torch.randint(1, c["vocabSize"], (B, T), generator=g, device=peer.dev)
        labels = torch.cat([tokens[:, 1:], torch.full((B, 1), -100, device=peer.dev)], 1)

        def fwd():
            with torch.no_grad():
                return (m.hidden(tokens) @ m.out.T).cpu()

        ms = peer.timed(fwd, max(3, z["reps"]))
        res["forward"] = {"B": B, "T": T, "ms": ms, "tokensPerSec": B * T * 1000 / ms}
        peer.write()
        last = None
        for q in z["qs"]:
            need = last[1] * q / last[0] if last else 0
            if peer.left() <= 0 or need > peer.left():
                res["zo"].append({"q": q, "skipped": f"not run: about {need:.0f} s needed, {max(0, peer.left()):.0f} s left of the time limit"})
                continue
            t = now()
            row = zo_row(peer, m, q, tokens, labels, z)
            last = (q, now() - t)
            res["zo"].append(row)
            print(f"  torch {p['name']} q={q}: prge {row['prgeMs']:.1f} ms, forward + loss head {row['forwardMs']:.1f} ms", file=sys.stderr)
            peer.write()
    except Exception as e:  # noqa: BLE001 - recorded, the next preset still runs
        res["error"] = f"{type(e).__name__}: {e}".split("\n")[0]
        print(f"  torch {p['name']}: {res['error']}", file=sys.stderr)
    finally:
        if peer.dev.type == "cuda":
            torch.cuda.empty_cache()
    peer.write()


def self_check(dev):
    """The batched perturbations are right: slot isolation, and central symmetry around B."""
    c = {"dim": 64, "hiddenDim": 128, "nLayers": 2, "nHeads": 4, "nKvHeads": 2, "headDim": 16, "vocabSize": 97,
         "seqLen": 32, "normEps": 1e-5, "ropeTheta": 10000.0, "ropeStyle": "halfsplit", "sharedClassifier": False}
    m = Llama(c, 4, ["q", "v"], dev, seed=5)
    g = torch.Generator(device=dev).manual_seed(11)
    for L in m.layers:
        for lo in L["lora"].values():
            lo["B"] = (torch.rand(lo["B"].shape, generator=g, device=dev) - 0.5) * 0.1
    q, eps, B, T = 2, 1e-3, 2, 12
    P = 2 * q
    tokens = torch.randint(1, c["vocabSize"], (B, T), generator=g, device=dev)
    labels = torch.cat([tokens[:, 1:], torch.full((B, 1), -100, device=dev)], 1)
    with torch.no_grad():
        Z = [{t: torch.randn((q, *lo["B"].shape), generator=g, device=dev) for t, lo in L["lora"].items()} for L in m.layers]
        Bp = [{t: torch.cat([lo["B"] + eps * Z[i][t], lo["B"] - eps * Z[i][t]]) for t, lo in L["lora"].items()} for i, L in enumerate(m.layers)]
        batched = m.slot_losses(m.hidden(tokens.repeat(P, 1), Bp), labels.repeat(P, 1), P)
        alone = torch.stack([m.slot_losses(m.hidden(tokens, [{t: b[t][p:p + 1] for t in b} for b in Bp]), labels, 1)[0] for p in range(P)])
        base = m.slot_losses(m.hidden(tokens, [{t: lo["B"][None] for t, lo in L["lora"].items()} for L in m.layers]), labels, 1)[0]
    isolation = ((batched - alone).abs().max() / alone.abs().max()).item()
    symmetry = ((batched[:q] + batched[q:]) / 2 - base).abs().max().item()
    spread = (batched[:q] - batched[q:]).abs().min().item()
    ok = isolation < 1e-5 and symmetry < 50 * eps * eps and spread > 0
    return {"ok": ok, "slotIsolationRelErr": isolation, "centralAsymmetry": symmetry, "minPlusMinusGap": spread}


def run_matmul(peer):
    mm = peer.plan["matmul"]
    g = torch.Generator(device=peer.dev).manual_seed(3)
    for s in mm["shapes"]:
        for M in mm["M"]:
            N, K = s["N"], s["K"]
            what = f"{s['preset']} {'/'.join(s['names'])} M {M} [{N}x{K}]"
            if peer.left() <= 0:
                peer.report["notRun"].append(f"matmul {what}")
                continue
            x = torch.rand((M, K), generator=g, device=peer.dev) * 2 - 1
            w = uniform((N, K), K, g, peer.dev)
            ms = peer.timed(lambda: torch.mm(x, w.T), 10)
            peer.report["matmul"].append({"preset": s["preset"], "names": s["names"], "M": M, "N": N, "K": K, "ms": ms, "gflops": 2 * M * N * K / ms / 1e6})
            del x, w
    peer.write()


def main(argv):
    if argv[:1] == ["--self-check"]:
        r = self_check(torch.device("cuda" if torch.cuda.is_available() else "cpu"))
        print(json.dumps(r))
        return 0 if r["ok"] else 1
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 64
    plan = json.load(open(argv[0]))
    limit = float(argv[argv.index("--deadline-s") + 1]) if "--deadline-s" in argv else float(os.environ.get("DEVICE_DEADLINE_S", 3600))
    peer = Peer(plan, argv[1], now() + limit)
    print(f"  torch {torch.__version__} on {peer.report['device']}, fp32, TF32 off", file=sys.stderr)
    peer.report["check"] = self_check(peer.dev)
    print(f"  self-check: {peer.report['check']}", file=sys.stderr)
    peer.write()
    if not peer.report["check"]["ok"]:
        return 1
    for p in plan["presets"]:
        if peer.left() <= 0:
            peer.report["notRun"].append(p["name"])
            continue
        run_preset(peer, p)
    run_matmul(peer)
    peer.write()
    return 1 if any("error" in p for p in peer.report["presets"]) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
