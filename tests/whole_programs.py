"""Whole programs written the way scientific Python is written (issue 15), for
tests/test_whole_programs.py.  Each ``PROGRAMS`` entry is ``(loss, n)``: a scalar loss of a
flat float vector of ``n`` parameters, unpacked inside the program the way users unpack
theirs.  Nothing here is tuned to astjax: classes with methods, nested step functions,
lambdas, dicts of parameters, early exits, random draws, plotting branches that do not run.
"""
import math

import numpy as np

# ---- data the programs close over (globals, read when they run) ---------------------------------
RNG = np.random.default_rng(2026)
X_TRAIN = RNG.normal(size=(8, 3))
Y_TRAIN = np.sin(X_TRAIN[:, 0]) + 0.1 * X_TRAIN[:, 1]
LABELS = (Y_TRAIN > 0).astype(np.float64)
SEQ = RNG.normal(size=(5, 2))
OBS = np.array([0, 1, 1, 0, 1])
COUNTS = np.array([1.0, 0.0, 3.0, 2.0, 1.0, 4.0, 0.0, 2.0])


# ---- 1. an MLP as a class ---------------------------------------------------------------------
class MLP:
    def __init__(self, n_in, n_hidden):
        self.n_in = n_in
        self.n_hidden = n_hidden

    def unpack(self, p):
        k = self.n_in * self.n_hidden
        W1 = p[:k].reshape(self.n_in, self.n_hidden)
        b1 = p[k:k + self.n_hidden]
        w2 = p[k + self.n_hidden:k + 2 * self.n_hidden]
        return W1, b1, w2

    def predict(self, p, X):
        W1, b1, w2 = self.unpack(p)
        h = np.tanh(X @ W1 + b1)
        return h @ w2


MODEL = MLP(3, 2)


def mlp_class_loss(p):
    pred = MODEL.predict(p, X_TRAIN)
    return np.mean((pred - Y_TRAIN) ** 2)


# ---- 2. an RNN with a nested step function -----------------------------------------------------
def rnn_loss(p):
    Wx = p[:4].reshape(2, 2)
    Wh = p[4:8].reshape(2, 2)

    def step(h, x_t):
        return np.tanh(x_t @ Wx + h @ Wh)

    h = np.zeros(2)
    for t in range(SEQ.shape[0]):
        h = step(h, SEQ[t])
    return np.sum(h ** 2)


# ---- 3. an LSTM cell unrolled --------------------------------------------------------------------
def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def lstm_loss(p):
    W = p[:16].reshape(4, 4)        # gates from [x_t, h]
    h = np.zeros(2)
    c = np.zeros(2)
    for x_t in SEQ:
        z = np.concatenate([x_t, h]) @ W
        i, f, o, g = sigmoid(z[0]), sigmoid(z[1]), sigmoid(z[2]), np.tanh(z[3])
        c = f * c + i * g
        h = o * np.tanh(c)
    return np.sum(h) + 0.5 * np.sum(c ** 2)


# ---- 4. a Gaussian process marginal likelihood ------------------------------------------------
def rbf(A, B, lengthscale):
    d2 = np.sum(A ** 2, 1)[:, None] + np.sum(B ** 2, 1)[None, :] - 2 * A @ B.T
    return np.exp(-0.5 * d2 / lengthscale ** 2)


def gp_neg_log_marginal(p):
    lengthscale, noise = np.exp(p[0]), np.exp(p[1])
    K = rbf(X_TRAIN, X_TRAIN, lengthscale) + noise * np.eye(len(X_TRAIN))
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(K, Y_TRAIN)
    return 0.5 * Y_TRAIN @ alpha + np.sum(np.log(np.diag(L))) + \
        0.5 * len(X_TRAIN) * np.log(2 * np.pi)


# ---- 5. black-box variational inference with sampling -----------------------------------------
def log_density(z):
    return -0.5 * np.sum(z ** 2, axis=1) - 0.1 * np.sum(z ** 4, axis=1)


def bbvi_objective(p):
    mean, log_std = p[:2], p[2:4]
    rng = np.random.default_rng(0)
    eps = rng.standard_normal((16, 2))
    samples = mean + np.exp(log_std) * eps
    entropy = np.sum(log_std) + 0.5 * 2 * (1.0 + np.log(2 * np.pi))
    return -(np.mean(log_density(samples)) + entropy)


# ---- 6. an HMM forward pass with logsumexp --------------------------------------------------
def logsumexp(a, axis=None):
    m = np.max(a, axis=axis, keepdims=True)
    s = np.log(np.sum(np.exp(a - m), axis=axis, keepdims=True)) + m
    if axis is None:
        return np.squeeze(s)
    return np.squeeze(s, axis=axis)


def log_softmax(a):
    return a - logsumexp(a, axis=1)[:, None]


def hmm_log_likelihood(p):
    log_A = log_softmax(p[:4].reshape(2, 2))
    log_B = log_softmax(p[4:8].reshape(2, 2))
    log_alpha = np.log(np.array([0.5, 0.5])) + log_B[:, OBS[0]]
    for t in range(1, len(OBS)):
        log_alpha = logsumexp(log_alpha[:, None] + log_A, axis=0) + log_B[:, OBS[t]]
    return -logsumexp(log_alpha)


# ---- 7. a Taylor series with break --------------------------------------------------------------
def taylor_exp(p):
    x = np.sum(p) / 4.0
    term, total = 1.0, 0.0
    for k in range(1, 40):
        total = total + term
        term = term * x / k
        if abs(term) < 1e-12:
            break
    return total


# ---- 8. a fluid simulation with np.roll ----------------------------------------------------------
def advect_diffuse(p, steps=20, nu=0.1, c=0.5, dt=0.2):
    u = np.array(p)
    for _ in range(steps):
        lap = np.roll(u, 1) - 2.0 * u + np.roll(u, -1)
        upwind = u - np.roll(u, 1)
        u = u + dt * (nu * lap - c * upwind)
    return np.sum(u ** 2)


# ---- 9. a plotting branch that does not run -------------------------------------------------
def fit_with_plot(p, plot=False):
    pred = X_TRAIN @ p[:3]
    loss = np.mean((pred - Y_TRAIN) ** 2)
    if plot:
        import matplotlib.pyplot as plt
        plt.plot(pred)
        plt.show()
    return loss


# ---- 10. logistic regression ------------------------------------------------------------------
def logistic_nll(p):
    logits = X_TRAIN @ p[:3] + p[3]
    return np.sum(np.log1p(np.exp(-np.abs(logits))) + np.maximum(logits, 0) - LABELS * logits)


# ---- 11. softmax cross-entropy --------------------------------------------------------------
def softmax_xent(p):
    W = p[:6].reshape(3, 2)
    logits = X_TRAIN @ W
    logits = logits - np.max(logits, axis=1, keepdims=True)
    log_probs = logits - np.log(np.sum(np.exp(logits), axis=1, keepdims=True))
    labels = LABELS.astype(int)
    return -np.mean(log_probs[np.arange(len(labels)), labels])


# ---- 12. ridge regression in closed form --------------------------------------------------------
def ridge_validation(p):
    lam = np.exp(p[0])
    A = X_TRAIN.T @ X_TRAIN + lam * np.eye(3)
    w = np.linalg.solve(A, X_TRAIN.T @ (Y_TRAIN * p[1]))
    return np.sum((X_TRAIN @ w - Y_TRAIN) ** 2)


# ---- 13. a Gaussian mixture log-likelihood ------------------------------------------------------
def gmm_nll(p):
    means = p[:3]
    log_weights = p[3:6] - logsumexp(p[3:6])
    data = X_TRAIN[:, 0]
    comp = -0.5 * (data[:, None] - means[None, :]) ** 2 - 0.5 * np.log(2 * np.pi)
    return -np.sum(logsumexp(comp + log_weights, axis=1))


# ---- 14. an n-body potential ------------------------------------------------------------------
def lennard_jones(p):
    pos = p.reshape(4, 2) + np.array([[0.0, 0.0], [1.2, 0.0], [0.0, 1.2], [1.2, 1.2]])
    diff = pos[:, None, :] - pos[None, :, :]
    r2 = np.sum(diff ** 2, axis=-1) + np.eye(4)
    inv6 = (1.0 / r2) ** 3
    energy = 4.0 * (inv6 ** 2 - inv6)
    return 0.5 * np.sum(np.triu(energy, 1))


# ---- 15. an explicit heat equation with slice writes -------------------------------------------
def heat_equation(p, steps=10, r=0.2):
    u = p.copy()
    for _ in range(steps):
        new = u.copy()
        new[1:-1] = u[1:-1] + r * (u[2:] - 2 * u[1:-1] + u[:-2])
        u = new
    return np.sum(u ** 3)


# ---- 16. polynomial evaluation, Horner's rule backwards -----------------------------------------
def horner_fit(p):
    xs = np.linspace(-1.0, 1.0, 7)
    acc = np.zeros_like(xs)
    for c in reversed(list(p)):
        acc = acc * xs + c
    return np.sum((acc - np.cos(xs)) ** 2)


# ---- 17. a 1-D Kalman filter -------------------------------------------------------------------
def kalman_nll(p):
    q, r = np.exp(p[0]), np.exp(p[1])
    mean, var = 0.0, 1.0
    nll = 0.0
    for y in Y_TRAIN:
        var = var + q
        s = var + r
        nll = nll + 0.5 * (np.log(2 * np.pi * s) + (y - mean) ** 2 / s)
        gain = var / s
        mean = mean + gain * (y - mean)
        var = (1.0 - gain) * var
    return nll


# ---- 18. the Huber loss ------------------------------------------------------------------------
def huber(p, delta=0.5):
    res = X_TRAIN @ p[:3] - Y_TRAIN
    quad = 0.5 * res ** 2
    lin = delta * (np.abs(res) - 0.5 * delta)
    return np.sum(np.where(np.abs(res) <= delta, quad, lin))


# ---- 19. single-head attention -----------------------------------------------------------------
def attention(p):
    Wq = p[:6].reshape(3, 2)
    Wk = p[6:12].reshape(3, 2)
    Q, K = X_TRAIN @ Wq, X_TRAIN @ Wk
    scores = Q @ K.T / math.sqrt(2)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    return np.sum((weights @ Y_TRAIN) ** 2)


# ---- 20. batch normalisation -----------------------------------------------------------------
def batchnorm_loss(p, eps=1e-5):
    h = X_TRAIN * p[:3]
    mu = h.mean(axis=0)
    var = h.var(axis=0)
    normed = (h - mu) / np.sqrt(var + eps)
    return np.sum(normed * p[3:6]) + np.sum((normed[:, 0] - Y_TRAIN) ** 2)


# ---- 21. a 1-D convolution by windows ---------------------------------------------------------
def conv1d_loss(p):
    kernel = p[:3]
    signal = np.sin(np.linspace(0.0, 3.0, 10))
    out = []
    for i in range(len(signal) - len(kernel) + 1):
        out.append(np.dot(signal[i:i + len(kernel)], kernel))
    return np.sum(np.array(out) ** 2)


# ---- 22. an RK4 pendulum -----------------------------------------------------------------------
def pendulum(state, damping):
    theta, omega = state[0], state[1]
    return np.array([omega, -np.sin(theta) - damping * omega])


def rk4_final_energy(p, dt=0.1, steps=15):
    state = p[:2].copy()
    damping = p[2]
    for _ in range(steps):
        k1 = pendulum(state, damping)
        k2 = pendulum(state + 0.5 * dt * k1, damping)
        k3 = pendulum(state + 0.5 * dt * k2, damping)
        k4 = pendulum(state + dt * k3, damping)
        state = state + dt / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return 0.5 * state[1] ** 2 + (1.0 - np.cos(state[0]))


# ---- 23. Newton iterations for a square root -------------------------------------------------
def newton_sqrt_sum(p):
    a = p ** 2 + 1.0
    guess = np.ones_like(a)
    for _ in range(6):
        guess = 0.5 * (guess + a / guess)
    return np.sum(guess)


# ---- 24. a log-determinant ------------------------------------------------------------------
def log_det_objective(p):
    A = p.reshape(3, 3)
    S = A @ A.T + np.eye(3)
    sign, logdet = np.linalg.slogdet(S)
    return logdet - 0.1 * np.trace(S)


# ---- 25. a spring chain with np.diff -------------------------------------------------------
def spring_chain(p, k=3.0, rest=0.5):
    positions = np.concatenate([[0.0], np.cumsum(np.exp(p))])
    stretch = np.diff(positions) - rest
    return 0.5 * k * np.sum(stretch ** 2) + positions[-1] * 0.1


# ---- 26. mixture VI with lambdas ---------------------------------------------------------------
def mixture_elbo(p):
    squash = lambda z: 1.0 / (1.0 + np.exp(-z))      # noqa: E731
    softplus = lambda z: np.log1p(np.exp(z))           # noqa: E731
    pi = squash(p[0])
    scale = softplus(p[1])
    data = X_TRAIN[:, 1]
    like = pi * np.exp(-0.5 * (data / scale) ** 2) / scale + (1 - pi) * np.exp(-0.5 * data ** 2)
    return -np.sum(np.log(like))


# ---- 27. a dict of parameters ---------------------------------------------------------------
def dict_params_loss(p):
    params = {"w": p[:3], "b": p[3]}
    params["scale"] = np.exp(p[4])
    pred = params["scale"] * np.tanh(X_TRAIN @ params["w"] + params["b"])
    return np.mean((pred - Y_TRAIN) ** 2)


# ---- 28. Poisson regression ------------------------------------------------------------------
def poisson_nll(p):
    rate = np.exp(X_TRAIN @ p[:3])
    log_fact = np.array([math.lgamma(c + 1.0) for c in COUNTS])
    return np.sum(rate - COUNTS * np.log(rate) + log_fact)


# ---- 29. features through map and a generator ---------------------------------------------
def feature_energy(p):
    features = list(map(np.tanh, [p, 2.0 * p, p - 1.0]))
    return sum(np.sum(f * f) for f in features) + max(np.sum(f) for f in features)


# ---- 30. a training loop with continue and early stop ------------------------------------
def unrolled_sgd(p, lr=0.1):
    w = p[:3].copy()
    for epoch in range(6):
        if epoch % 2 == 1:
            continue
        grad_w = 2 * X_TRAIN.T @ (X_TRAIN @ w - Y_TRAIN) / len(Y_TRAIN)
        w = w - lr * grad_w
        if np.sum(grad_w ** 2) < 1e-10:
            break
    return np.sum((X_TRAIN @ w - Y_TRAIN) ** 2)


# ---- 31. discounted returns with np.cumsum ---------------------------------------------
def discounted_return(p, gamma=0.9):
    rewards = np.tanh(p)
    discounts = gamma ** np.arange(len(rewards))
    returns = np.cumsum((rewards * discounts)[::-1])[::-1] / discounts
    return np.sum(returns * np.linspace(1.0, 0.5, len(rewards)))


# ---- 32. a recursive power ------------------------------------------------------------------
def power(x, n):
    if n == 0:
        return 1.0
    return x * power(x, n - 1)


def recursive_power(p):
    return np.sum(power(p, 3))


PROGRAMS = [
    (mlp_class_loss, 10), (rnn_loss, 8), (lstm_loss, 16), (gp_neg_log_marginal, 2),
    (bbvi_objective, 4), (hmm_log_likelihood, 8), (taylor_exp, 4), (advect_diffuse, 6),
    (fit_with_plot, 3), (logistic_nll, 4), (softmax_xent, 6), (ridge_validation, 2),
    (gmm_nll, 6), (lennard_jones, 8), (heat_equation, 6), (horner_fit, 4), (kalman_nll, 2),
    (huber, 3), (attention, 12), (batchnorm_loss, 6), (conv1d_loss, 3), (rk4_final_energy, 3),
    (newton_sqrt_sum, 4), (log_det_objective, 9), (spring_chain, 5), (mixture_elbo, 2),
    (dict_params_loss, 5), (poisson_nll, 3), (feature_energy, 4), (unrolled_sgd, 3),
    (discounted_return, 5), (recursive_power, 3),
]


def point(n, seed=0):
    """A parameter vector where every program above is smooth (no ties, no kinks)."""
    rng = np.random.default_rng(100 + seed)
    return 0.4 * rng.normal(size=n) + 0.1
