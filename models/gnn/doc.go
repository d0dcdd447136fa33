// Package gnn is the project's temporal graph neural network for rig
// diagnosis, defined once in GoMLX: the trainer (models/train) builds it
// from context variables, Forward runs it from plain weights, and the ONNX
// exporter (models/onnx) writes the same computation from the same named
// weights. It is topology-agnostic: New derives every size and constant
// from a firmware config (shared/rig); the code is the same for every rig.
//
// # Computation
//
// Inputs are x and mask, [B, S, T] float32: S sensors in config order
// (active ones), T grid steps, exactly prep.Window.Values and Mask stacked.
// D = Sizes.Hidden, P = Sizes.Patch, NP = T/P, K = Sizes.Heads, dk = D/K,
// N = number of components. "@" is ONNX MatMul (numpy broadcasting), σ is
// Sigmoid, relu(v) = Max(v, 0). A "per-sensor" product a[B,S,k] @ W[S,k,D]
// is Transpose(a, [1,0,2]) @ W, transposed back with [1,0,2].
//
//  1. Encoder, per sensor. xm = (x - enc/cell/mean) * enc/cell/inv_std * mask
//     (frozen per-cell statistics of the training windows, see SetCellStats).
//     window = relu(per-sensor(xm, enc/window/w) + enc/window/b)   [B,S,D]
//     For patch t in 0..NP-1: in_t = Concat(xm[:,:,tP:(t+1)P], mask[:,:,tP:(t+1)P]) [B,S,2P]
//     (Slice of the inputs only), e_t = relu(per-sensor(in_t, enc/patch/w) + enc/patch/b),
//     h_t = GRU(e_t, h_{t-1}) with h_{-1} = 0 and the gate equations of
//     gruStep (ONNX GRU, linear_before_reset=1, gates z, r, n; the exporter
//     may emit ONNX GRU with W = [Wz_x;Wr_x;Wn_x]ᵀ etc. or unroll it).
//     patchMean = (Σ_t e_t)/NP.
//     sensors = relu(Concat(h_{NP-1}, patchMean, window) @ enc/out/w + enc/out/b)  [B,S,D]
//  2. Pooling: nodes = const/pool @ sensors + node/emb   [B,N,D] (mean of a
//     component's sensors; a component without sensors starts from its
//     embedding only).
//  3. GATv2 layers l = 0..L-1 with p = "gat{l}/":
//     hl = Transpose(Reshape(nodes @ p.wl, [B,N,K,dk]), [0,2,1,3]), hr likewise with p.wr;
//     pair = LeakyRelu(Reshape(hl,[B,K,N,1,dk]) + Reshape(hr,[B,K,1,N,dk]), alpha=LeakyAlpha);
//     scores = Reshape(Reshape(pair,[B,K,N*N,dk]) @ Reshape(p.att,[K,dk,1]), [B,K,N,N]);
//     alpha = Softmax(scores + const/adj_bias, axis=-1);
//     msg = Reshape(Transpose(alpha @ hr, [0,2,1,3]), [B,N,D]);
//     nodes = LayerNorm(nodes + relu(msg @ p.wo + p.bo); p.ln/g, p.ln/b, eps=LayerNormEps).
//     readout = relu(Reshape(nodes, [B,N*D]) @ graph/readout/w + graph/readout/b)   [B,D]
//     pooled = Concat(ReduceMean(nodes, axis=1), readout)   [B,2D]
//     (readout only with Sizes.Readout > 0). With Sizes.Global > 0 the
//     rig-level view relu(Reshape(winLin, [B,S*r]) @ graph/global/w +
//     graph/global/b) is appended, winLin being the window view before its
//     Relu.
//  4. Heads.
//     health = σ(Reshape(nodes @ head/health/w + head/health/b, [B,N]))   [B,N]
//     Per target (config order), prefix q = "head/target/<name>/":
//     in = Concat(Reshape(const/select/<name> @ nodes, [B,D]), pooled) for a
//     target with a component, in = pooled for a rig-level target; with
//     Sizes.View > 0 a component target also appends its own view of every
//     sensor's window: relu(Reshape(per-sensor(xm, q.view/w) + q.view/b,
//     [B,S*r_t]) @ q.view/hw + q.view/hb)   [B,ViewHidden]; with
//     Sizes.ViewAttn = E > 0 a component target also appends its attention
//     over the steps: e = relu(Transpose(xm,[0,2,1]) @ q.attn/w + q.attn/pos)
//     [B,T,E], alpha = Softmax(e @ q.attn/q, axis=1) [B,T,ViewAttnHeads],
//     Reshape(Transpose(alpha,[0,2,1]) @ e, [B,ViewAttnHeads*E]);
//     logits = relu(in @ q.w1 + q.b1) @ q.w2 + q.b2, probabilities Softmax.
//     Reconstruction: c = sensors + const/scatter @ nodes;
//     recon = relu(c @ head/recon/w1 + head/recon/b1) @ head/recon/w2 + head/recon/b2   [B,S,T];
//     anomaly = ReduceSum(((recon-x)*mask)², -1) / Max(ReduceSum(mask,-1), 1)   [B,S].
//
// Biases of shape [D] (or [S,D]) broadcast over the leading axes as in
// ONNX. The GoMLX graph reshapes operands to equal ranks before element-wise
// ops (GoMLX does not broadcast ranks); the values are those of numpy
// broadcasting.
//
// # Weight-naming contract (with the exporter)
//
// Model.Params lists every weight in a fixed order with its shape; Weights
// holds values in that order; Model.Constants lists the topology constants
// (const/pool [N,S], const/scatter [S,N], const/adj_bias [N,N],
// const/select/<target> [1,N]). Names use "/" separators:
//
//	enc/cell/mean [S,T]   enc/cell/inv_std [S,T]   (frozen)
//	enc/window/w [S,T,D]  enc/window/b [S,D]
//	enc/patch/w  [S,2P,D] enc/patch/b  [S,D]
//	enc/gru/{z,r,n}/wx [D,D]  enc/gru/{z,r,n}/wh [D,D]  enc/gru/{z,r,n}/bx [D]  enc/gru/{z,r,n}/bh [D]
//	enc/out/w [3D,D]  enc/out/b [D]
//	node/emb [N,D]
//	gat{l}/wl [D,D] gat{l}/wr [D,D] gat{l}/att [K,dk] gat{l}/wo [D,D] gat{l}/bo [D] gat{l}/ln/g [D] gat{l}/ln/b [D]
//	graph/readout/w [N*D,D] graph/readout/b [D]
//	head/health/w [D,1] head/health/b [1]
//	graph/global/w [S*r,G] graph/global/b [G]
//	head/target/<name>/view/w [S,T,r_t] view/b [S,r_t] view/hw [S*r_t,ViewHidden] view/hb [ViewHidden]
//	head/target/<name>/attn/w [S,E] attn/pos [T,E] attn/q [E,ViewAttnHeads]   (Sizes.ViewAttn)
//	head/target/<name>/w1 [in, HeadHidden] b1 [HeadHidden] w2 [HeadHidden, C] b2 [C]
//	head/recon/w1 [D,D] head/recon/b1 [D] head/recon/w2 [D,T] head/recon/b2 [T]
//
// A change of this list or of the computation above is a breaking change
// for exported bundles: the exporter and its parity test must follow.
//
// # Training on the pure-Go backend
//
// The graph slices only its inputs (the backend has no Pad, the gradient
// of Slice), writes the GRU from dense ops with separate weights per gate,
// and this package replaces GoMLX's DotGeneral gradient with two matmuls
// (dotgrad.go), which made a training step 3-4x faster.
//
// Backends: NewBackend("go") (default) or "xla:cpu" / "xla:cuda" in cgo
// builds; see NewBackend.
package gnn
