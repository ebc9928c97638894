// The experiment form, generated from the core's own description of its keys (names, docs,
// ranges, per-environment defaults), so the page never restates them.

const SECTIONS = { ppo: 'ppo-fields', grpo: 'grpo-fields' };

export class Controls {
  constructor(form, description, onEdit) {
    this.form = form;
    this.desc = description;
    this.onEdit = onEdit;
    this.inputs = new Map();
    this.labels = new Map();
    for (const spec of description.keys) this.addField(spec);
  }

  env(envId) {
    return this.desc.envs.find((e) => e.id === envId) ?? this.desc.envs[0];
  }

  defaults(envId) {
    return new Map(this.env(envId).defaults);
  }

  /** A text task: the language-model policy, its completions and accuracy. */
  isText(envId) {
    return this.env(envId).text;
  }

  addField(spec) {
    const [section, name] = spec.key.includes('.') ? spec.key.split('.') : ['run', spec.key];
    const parent = document.getElementById(SECTIONS[section] ?? 'run-fields');
    const label = document.createElement('label');
    label.className = 'field';
    label.title = spec.doc;
    const text = document.createElement('span');
    text.textContent = name;
    let input;
    if (spec.type === 'choice') {
      input = document.createElement('select');
      for (const option of spec.options) {
        const o = document.createElement('option');
        o.value = option;
        o.textContent = option;
        input.append(o);
      }
    } else if (spec.type === 'bool') {
      input = document.createElement('input');
      input.type = 'checkbox';
      label.classList.add('check');
    } else {
      input = document.createElement('input');
      input.type = 'text';
      // Floats may be written `3e-4`: a decimal keypad has no `e`.
      if (spec.type === 'int') input.inputMode = 'numeric';
      input.spellcheck = false;
    }
    input.name = spec.key;
    input.setAttribute('aria-label', `${spec.key}: ${spec.doc}`);
    const hint = document.createElement('small');
    hint.textContent = spec.doc + (spec.type === 'int' || spec.type === 'float' ? ` [${spec.min} … ${spec.max}]` : '');
    label.append(text, input, hint);
    parent.append(label);
    this.inputs.set(spec.key, input);
    this.labels.set(spec.key, label);
    input.addEventListener('change', () => {
      if (spec.key === 'env') this.load(input.value, new Map([['seed', this.value('seed')]]));
      this.onEdit?.();
    });
  }

  value(key) {
    const input = this.inputs.get(key);
    return input.type === 'checkbox' ? String(input.checked) : input.value;
  }

  /** Fill the form with `envId`'s defaults, then `overrides` (a Map of key → text). */
  load(envId, overrides = new Map()) {
    const values = this.defaults(envId);
    values.set('env', envId);
    for (const [k, v] of overrides) if (this.inputs.has(k)) values.set(k, v);
    for (const [k, v] of values) {
      const input = this.inputs.get(k);
      if (!input) continue;
      if (input.type === 'checkbox') input.checked = v === 'true';
      else input.value = v;
    }
    // Keys that do not change a run on this env (an MLP's width for a text task, LoRA's rank for
    // a control task) are hidden; they keep their defaults.
    const ignored = new Set(this.env(envId).ignored);
    for (const [k, label] of this.labels) label.hidden = ignored.has(k);
    this.markProblems([]);
  }

  /** Load a fragment such as `env=Pendulum-v1&seed=2&ppo.gamma=0.95`. */
  loadFragment(fragment) {
    const pairs = new URLSearchParams(fragment);
    this.load(pairs.get('env') ?? this.desc.envs[0].id, new Map(pairs));
  }

  /** Every key of the form as a fragment (the core keeps only what differs from defaults). */
  fragment() {
    // In this page's version: its keys are read against this version's defaults.
    const params = new URLSearchParams({ v: String(this.desc.build.version) });
    for (const key of this.inputs.keys()) params.set(key, this.value(key));
    return params.toString();
  }

  markProblems(problems) {
    for (const input of this.inputs.values()) input.classList.remove('invalid');
    for (const p of problems) this.inputs.get(p.key)?.classList.add('invalid');
  }

  setDisabled(disabled) {
    for (const input of this.inputs.values()) input.disabled = disabled;
  }
}
