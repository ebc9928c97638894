// Drawing the classic-control environments from their internal state, as Gymnasium's
// renderers do (same geometry, simpler strokes), and replaying a trajectory step by step.

const INK = '#202124';
const CART = '#5f6368';
const POLE = '#c5874a';

/** Steps of a trajectory's states (after its last step included), flat (`state_dim` per step,
 *  as typed arrays cross from the worker) or one array per step. */
const stateCount = (t) => (t.state_dim ? t.states.length / t.state_dim : t.states.length);
const stateAt = (t, i) => (t.state_dim ? t.states.subarray(i * t.state_dim, (i + 1) * t.state_dim) : t.states[i]);

function cartpole(ctx, W, H, [x, , theta]) {
  const scale = W / 4.8; // Gymnasium: world width 2 × x_threshold
  const groundY = H * 0.7;
  const cx = W / 2 + x * scale;
  ctx.strokeStyle = INK;
  ctx.beginPath();
  ctx.moveTo(0, groundY);
  ctx.lineTo(W, groundY);
  ctx.stroke();
  ctx.fillStyle = CART;
  ctx.fillRect(cx - 25, groundY - 15, 50, 30);
  const len = scale * 1.0; // 2 × half-length 0.5
  ctx.strokeStyle = POLE;
  ctx.lineWidth = 8;
  ctx.beginPath();
  ctx.moveTo(cx, groundY - 15);
  ctx.lineTo(cx + len * Math.sin(theta), groundY - 15 - len * Math.cos(theta));
  ctx.stroke();
  ctx.lineWidth = 1;
}

function acrobot(ctx, W, H, [t1, t2]) {
  const s = Math.min(W, H) / 5;
  const [ox, oy] = [W / 2, H / 2];
  const p1 = [ox + s * Math.sin(t1), oy + s * Math.cos(t1)];
  const p2 = [p1[0] + s * Math.sin(t1 + t2), p1[1] + s * Math.cos(t1 + t2)];
  ctx.strokeStyle = '#ccc';
  ctx.beginPath();
  ctx.moveTo(0, oy - s);
  ctx.lineTo(W, oy - s); // the goal height: tip above one link length
  ctx.stroke();
  ctx.strokeStyle = '#008080';
  ctx.lineWidth = 8;
  ctx.beginPath();
  ctx.moveTo(ox, oy);
  ctx.lineTo(...p1);
  ctx.lineTo(...p2);
  ctx.stroke();
  ctx.lineWidth = 1;
  ctx.fillStyle = INK;
  for (const [px, py] of [[ox, oy], p1]) ctx.fillRect(px - 3, py - 3, 6, 6);
}

function pendulum(ctx, W, H, [theta]) {
  const s = Math.min(W, H) * 0.38;
  const [ox, oy] = [W / 2, H / 2];
  ctx.strokeStyle = '#cc4c4c';
  ctx.lineWidth = 10;
  ctx.beginPath();
  ctx.moveTo(ox, oy);
  ctx.lineTo(ox + s * Math.sin(theta), oy - s * Math.cos(theta)); // θ = 0 is upright
  ctx.stroke();
  ctx.lineWidth = 1;
  ctx.fillStyle = INK;
  ctx.beginPath();
  ctx.arc(ox, oy, 4, 0, 2 * Math.PI);
  ctx.fill();
}

function mountainCar(goal) {
  return (ctx, W, H, [pos]) => {
    const [lo, hi] = [-1.2, 0.6];
    const height = (x) => Math.sin(3 * x) * 0.45 + 0.55;
    const sx = (x) => ((x - lo) / (hi - lo)) * W;
    const sy = (y) => H - 20 - y * (H - 60);
    ctx.strokeStyle = INK;
    ctx.beginPath();
    for (let i = 0; i <= 100; i++) {
      const x = lo + ((hi - lo) * i) / 100;
      i ? ctx.lineTo(sx(x), sy(height(x))) : ctx.moveTo(sx(x), sy(height(x)));
    }
    ctx.stroke();
    ctx.fillStyle = '#f9ab00';
    ctx.fillRect(sx(goal), sy(height(goal)) - 30, 2, 30);
    ctx.fillRect(sx(goal), sy(height(goal)) - 30, 14, 8);
    ctx.fillStyle = CART;
    ctx.beginPath();
    ctx.arc(sx(pos), sy(height(pos)) - 8, 8, 0, 2 * Math.PI);
    ctx.fill();
  };
}

const RENDERERS = {
  'CartPole-v1': cartpole,
  'Acrobot-v1': acrobot,
  'Pendulum-v1': pendulum,
  'MountainCar-v0': mountainCar(0.5),
  'MountainCarContinuous-v0': mountainCar(0.45),
};

export class EnvView {
  constructor(canvas, select, slider, playButton, info) {
    Object.assign(this, { canvas, select, slider, playButton, info });
    this.env = 'CartPole-v1';
    this.trajectories = [];
    this.timer = null;
    select.addEventListener('change', () => this.show(Number(select.value), 0));
    slider.addEventListener('input', () => this.draw());
    playButton.addEventListener('click', () => (this.timer ? this.stop() : this.play()));
  }

  setEnv(env) {
    this.env = env;
    this.setTrajectories([], 0);
  }

  /** GRPO's last trajectories; `groupSize` members share an initial state. */
  setTrajectories(trajectories, groupSize) {
    const keep = Number(this.select.value) || 0;
    this.trajectories = trajectories;
    this.select.replaceChildren();
    trajectories.forEach((t, i) => {
      const o = document.createElement('option');
      o.value = String(i);
      const end = t.terminated ? 'terminated' : 'truncated';
      const group = groupSize ? `group ${Math.floor(i / groupSize)}, ` : '';
      o.textContent = `g=${i} (${group}return ${t.episode_return.toFixed(1)}, ${stateCount(t) - 1} steps, ${end})`;
      this.select.append(o);
    });
    this.show(Math.min(keep, Math.max(0, trajectories.length - 1)), this.timer ? Number(this.slider.value) : 0);
  }

  show(index, step) {
    this.select.value = String(index);
    const t = this.trajectories[index];
    this.slider.max = String(t ? stateCount(t) - 1 : 0);
    this.slider.value = String(Math.min(step, Number(this.slider.max)));
    this.draw();
  }

  draw() {
    const ctx = this.canvas.getContext('2d');
    const { width: W, height: H } = this.canvas;
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, W, H);
    const t = this.trajectories[Number(this.select.value)];
    if (!t) {
      ctx.fillStyle = '#5f6368';
      ctx.fillText('Step once: GRPO\'s group will be replayed here.', 20, 30);
      this.info.textContent = '';
      return;
    }
    const step = Number(this.slider.value);
    RENDERERS[this.env]?.(ctx, W, H, stateAt(t, step));
    this.info.textContent = `t = ${step} / ${stateCount(t) - 1}`;
  }

  play() {
    this.playButton.textContent = 'Pause';
    this.timer = setInterval(() => {
      const next = Number(this.slider.value) + 1;
      if (next > Number(this.slider.max)) this.slider.value = '0';
      else this.slider.value = String(next);
      this.draw();
    }, 1000 / 50);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.playButton.textContent = 'Play';
  }
}
