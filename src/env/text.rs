//! Text tasks with verifiable rewards, as environments of a character-level language model.
//!
//! An episode is one completion: the state is the prompt plus the characters generated so far,
//! an action is the next token. One rule decides where a completion ends, for the reward, GRPO's
//! mask and PPO's values alike: it ends at EOS (terminated), or it is truncated: it reached the
//! task's length limit, the model emitted PAD or BOS (which no completion holds: it stops there,
//! without EOS), or GRPO's `max_completion_length` cut it. A truncated completion is scored as
//! it stands (never an exact match, since that needs EOS; partial credit for its text, minus the
//! format penalty), `mask_truncated_completions` leaves every one out (TRL drops every completion
//! without EOS), and nothing comes after its last token: PPO does not bootstrap a value past it.
//! The reward comes at the last step, as [`Scoring`] says: by default 1 for an exact match of
//! the answer followed by EOS, else 0.
//! GRPO's group is G completions of one prompt, which is exactly G members started from the
//! same state (`reset_to`).
//!
//! Prompts are split by a hash of their text: a tenth of them are held out, never drawn by
//! `reset` in training (nor by `pvg pretrain`), and are what evaluation measures.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use super::{Env, EnvId, Transition, discrete_action};

/// Padding: what fills the context after the last token, and a padded cell's observation.
pub const PAD: usize = 0;
/// Beginning of sequence: the first token of every context.
pub const BOS: usize = 1;
/// End of sequence: the token that ends a completion.
pub const EOS: usize = 2;
/// The characters of every task, tokens `3..`.
const CHARS: &str = "abcdefgh0123456789+=";
/// Tokens: the three specials and the characters.
pub const VOCAB: usize = 3 + CHARS.len();
/// Tokens a context holds: BOS, the longest prompt and the longest completion.
pub const CONTEXT: usize = 16;

/// The token of a task character.
pub fn token(c: char) -> usize {
    3 + CHARS.find(c).unwrap_or_else(|| panic!("'{c}' is not in the vocabulary"))
}

/// A token as text: its character, or `<pad>`, `<bos>`, `<eos>`.
pub fn token_text(t: usize) -> String {
    match t {
        PAD => "<pad>".into(),
        BOS => "<bos>".into(),
        EOS => "<eos>".into(),
        t => CHARS[t - 3..t - 2].to_string(),
    }
}

/// A task: how a problem is drawn and what its answer is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Task {
    /// `dbca=` → `acbd`: the letters in reverse order (2 to 5 letters from a–h).
    Reverse,
    /// `47+8=` → `55`: the sum of two numbers below 100.
    Add,
    /// `dbca=` → `abcd`: the letters in alphabetical order (2 to 5 letters from a–h).
    Sort,
}

impl Task {
    pub fn env_id(self) -> EnvId {
        match self {
            Task::Reverse => EnvId::LmReverse,
            Task::Add => EnvId::LmAdd,
            Task::Sort => EnvId::LmSort,
        }
    }

    /// The longest answer, in characters.
    fn max_answer_len(self) -> usize {
        match self {
            Task::Reverse | Task::Sort => 5,
            Task::Add => 3,
        }
    }

    /// Tokens a completion may have before it is truncated: the longest answer, its EOS and
    /// one more, so that a completion that overruns the answer is seen to.
    pub fn max_completion_len(self) -> usize {
        self.max_answer_len() + 2
    }

    /// One problem (the prompt without its `=`), drawn uniformly.
    fn draw(self, rng: &mut ChaCha8Rng) -> String {
        let letters = |rng: &mut ChaCha8Rng| {
            let n = rng.random_range(2..=5);
            (0..n).map(|_| CHARS.as_bytes()[rng.random_range(0..8)] as char).collect::<String>()
        };
        match self {
            Task::Reverse | Task::Sort => letters(rng),
            Task::Add => format!("{}+{}", rng.random_range(0..100u32), rng.random_range(0..100u32)),
        }
    }

    /// Whether some answer of the task has character `c`.
    fn answers_use(self, c: char) -> bool {
        match self {
            Task::Reverse | Task::Sort => c.is_ascii_lowercase(),
            Task::Add => c.is_ascii_digit(),
        }
    }

    /// The answer to a problem.
    pub fn answer(self, problem: &str) -> String {
        match self {
            Task::Reverse => problem.chars().rev().collect(),
            Task::Sort => {
                let mut cs: Vec<char> = problem.chars().collect();
                cs.sort_unstable();
                cs.into_iter().collect()
            }
            Task::Add => {
                let (a, b) = problem.split_once('+').expect("an addition problem has a '+'");
                (a.parse::<u32>().unwrap() + b.parse::<u32>().unwrap()).to_string()
            }
        }
    }

    /// Draw a problem of the training split (`held_out = false`) or of the held-out one.
    pub fn draw_from(self, split_held_out: bool, rng: &mut ChaCha8Rng) -> String {
        loop {
            let p = self.draw(rng);
            if is_held_out(&p) == split_held_out {
                return p;
            }
        }
    }

    /// The first `n` distinct problems of the held-out split, in the order a fixed generator
    /// draws them: what every evaluation of every run plays, so that runs of different seeds
    /// are scored on the same prompts, each prompt once (drawn with repeats, a quarter of the
    /// reverse and sort prompts would be among the 6 held-out two-letter ones). Fewer when the
    /// split has fewer (lm-add's holds about 1,000).
    pub fn held_out_problems(self, n: usize) -> Vec<String> {
        let mut rng = ChaCha8Rng::seed_from_u64(HELD_OUT_ORDER_SEED);
        let mut seen = std::collections::HashSet::new();
        let mut problems = Vec::with_capacity(n);
        // Far more draws than any split needs to show every problem it has.
        for _ in 0..200_000 {
            if problems.len() == n {
                break;
            }
            let p = self.draw_from(true, &mut rng);
            if seen.insert(p.clone()) {
                problems.push(p);
            }
        }
        problems
    }

    /// The prompt's tokens: BOS, the problem, `=`.
    pub fn prompt_tokens(problem: &str) -> Vec<usize> {
        std::iter::once(BOS).chain(problem.chars().map(token)).chain(std::iter::once(token('='))).collect()
    }

    /// The completion's tokens for the right answer: the answer and EOS.
    pub fn answer_tokens(self, problem: &str) -> Vec<usize> {
        self.answer(problem).chars().map(token).chain(std::iter::once(EOS)).collect()
    }
}

/// A context (an observation, or an env state) split into the prompt's text after BOS (up to
/// and including `=`) and the number of completion tokens after it.
pub fn split_context(context: impl IntoIterator<Item = usize>) -> (String, usize) {
    let tokens: Vec<usize> = context.into_iter().take_while(|&t| t != PAD).collect();
    let end = tokens.iter().position(|&t| t == token('=')).map_or(tokens.len(), |i| i + 1);
    let prompt = tokens[..end].iter().filter(|&&t| t != BOS).map(|&t| token_text(t)).collect();
    (prompt, tokens.len() - end)
}

/// Seed of the order in which evaluation takes the held-out problems
/// ([`Task::held_out_problems`]); no run's seed.
const HELD_OUT_ORDER_SEED: u64 = 0x00E7_A1u64;

/// Held-out prompts a text task's evaluation plays (`pvg train`, `pvg compare`): at an accuracy
/// near 0.85, the 95% Wilson interval of 600 distinct prompts is ±0.029.
pub const EVAL_PROMPTS: usize = 600;

/// A tenth of the problems, by an FNV-1a hash of their text, never seen in training.
pub fn is_held_out(problem: &str) -> bool {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in problem.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h.is_multiple_of(10)
}

/// How a finished completion is rewarded.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Scoring {
    /// Partial credit: the length of the longest common subsequence of completion and answer
    /// over the longer of the two (1 for an exact match), instead of exact match 1/0.
    pub partial_credit: bool,
    /// Subtracted when the completion breaks the format: it did not end with EOS (truncated,
    /// stopped by padding or BOS, or cut), is empty (EOS first: no answer at all), or holds a
    /// character no answer of the task has (a letter in a sum, a digit or sign in a word).
    pub format_penalty: f64,
}

impl Scoring {
    /// Exact match, no penalty: what evaluation measures.
    pub const EXACT: Scoring = Scoring { partial_credit: false, format_penalty: 0.0 };

    pub fn reward(&self, task: Task, problem: &str, completion: &str, ended_by_eos: bool) -> f64 {
        let answer = task.answer(problem);
        let score = if self.partial_credit {
            let longest = completion.chars().count().max(answer.chars().count());
            if longest == 0 { 0.0 } else { lcs(completion, &answer) as f64 / longest as f64 }
        } else {
            (ended_by_eos && completion == answer) as u8 as f64
        };
        let well_formed =
            ended_by_eos && !completion.is_empty() && completion.chars().all(|c| task.answers_use(c));
        score - if well_formed { 0.0 } else { self.format_penalty }
    }
}

impl Default for Scoring {
    fn default() -> Self {
        Self::EXACT
    }
}

/// Length of the longest common subsequence of two strings.
pub fn lcs(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row = vec![0usize; b.len() + 1];
    for &x in &a {
        let mut diagonal = 0;
        for (j, &y) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if x == y { diagonal + 1 } else { above.max(row[j]) };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// One completion of one prompt.
#[derive(Clone)]
pub struct TextTask {
    task: Task,
    scoring: Scoring,
    /// Draw held-out prompts (evaluation) instead of training ones.
    held_out: bool,
    /// The prompt's tokens (BOS .. `=`).
    prompt: Vec<usize>,
    completion: Vec<usize>,
    rng: ChaCha8Rng,
}

impl TextTask {
    /// A completion of `task`'s training prompts (or of its held-out ones), scored exactly.
    pub fn new(task: Task, held_out: bool) -> Self {
        let rng = ChaCha8Rng::seed_from_u64(0);
        Self { task, scoring: Scoring::EXACT, held_out, prompt: vec![BOS], completion: Vec::new(), rng }
    }

    pub fn with_scoring(mut self, scoring: Scoring) -> Self {
        self.scoring = scoring;
        self
    }

    fn observation(&self) -> Vec<f32> {
        let mut obs = vec![PAD as f32; CONTEXT];
        for (o, &t) in obs.iter_mut().zip(self.prompt.iter().chain(&self.completion)) {
            *o = t as f32;
        }
        obs
    }

    /// The problem of the current prompt (without BOS and `=`).
    fn problem(&self) -> String {
        self.prompt[1..self.prompt.len() - 1].iter().map(|&t| token_text(t)).collect()
    }
}

impl Env for TextTask {
    fn id(&self) -> EnvId {
        self.task.env_id()
    }

    fn reset(&mut self, seed: Option<u64>) -> Vec<f32> {
        if let Some(seed) = seed {
            self.rng = ChaCha8Rng::seed_from_u64(seed);
        }
        let problem = self.task.draw_from(self.held_out, &mut self.rng);
        let state: Vec<f64> = Task::prompt_tokens(&problem).iter().map(|&t| t as f64).collect();
        self.reset_to(&state)
    }

    /// The tokens of the context so far: the prompt, then the completion. The prompt ends at
    /// the first `=`.
    fn state(&self) -> Vec<f64> {
        self.prompt.iter().chain(&self.completion).map(|&t| t as f64).collect()
    }

    fn reset_to(&mut self, state: &[f64]) -> Vec<f32> {
        let tokens: Vec<usize> = state.iter().map(|&t| t as usize).collect();
        let eq = token('=');
        let end = tokens
            .iter()
            .position(|&t| t == eq)
            .unwrap_or_else(|| panic!("{}: reset_to got a state without '=': {state:?}", self.id()));
        assert!(
            tokens.len() <= CONTEXT,
            "{}: a state of {} tokens exceeds the context",
            self.id(),
            tokens.len()
        );
        self.prompt = tokens[..=end].to_vec();
        self.completion = tokens[end + 1..].to_vec();
        self.observation()
    }

    fn step(&mut self, action: &[f32]) -> Transition {
        let t = discrete_action(self.id(), action, VOCAB);
        let terminated = t == EOS;
        // PAD or BOS stop the completion without EOS: it is not taken into the text.
        let stopped = t == PAD || t == BOS;
        if !terminated && !stopped {
            self.completion.push(t);
        }
        let truncated = stopped || !terminated && self.completion.len() >= self.task.max_completion_len();
        let reward = if terminated || truncated { self.score(terminated) } else { 0.0 };
        Transition { observation: self.observation(), reward, terminated, truncated }
    }

    /// A completion ends where it ends: nothing follows a truncated one.
    fn continues_past_truncation(&self) -> bool {
        false
    }

    fn reward_if_cut(&self) -> f64 {
        self.score(false)
    }
}

impl TextTask {
    /// The reward of the completion as it stands, ended by EOS or not.
    fn score(&self, ended_by_eos: bool) -> f64 {
        let text: String = self.completion.iter().map(|&t| token_text(t)).collect();
        self.scoring.reward(self.task, &self.problem(), &text, ended_by_eos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_context_splits_into_its_prompt_and_completion_length() {
        let context = std::iter::once(BOS).chain("abc=cb".chars().map(token)).chain([EOS, PAD, PAD]);
        assert_eq!(split_context(context), ("abc=".to_string(), 3), "cb and EOS");
        assert_eq!(
            split_context(std::iter::once(BOS).chain("12+3=".chars().map(token))),
            ("12+3=".to_string(), 0)
        );
    }

    fn act(env: &mut TextTask, text: &str) -> Vec<Transition> {
        text.chars().map(|c| env.step(&[token(c) as f32])).collect()
    }

    #[test]
    fn the_right_answer_then_eos_earns_one_and_anything_else_zero() {
        for (task, problem, right, wrong) in [
            (Task::Reverse, "abcd", "dcba", "dcb"),
            (Task::Sort, "dbca", "abcd", "abdc"),
            (Task::Add, "47+8", "55", "56"),
        ] {
            let state: Vec<f64> = Task::prompt_tokens(problem).iter().map(|&t| t as f64).collect();
            for (answer, reward) in [(right, 1.0), (wrong, 0.0)] {
                let mut env = TextTask::new(task, false);
                env.reset_to(&state);
                let steps = act(&mut env, answer);
                assert!(steps.iter().all(|t| !t.done() && t.reward == 0.0));
                let last = env.step(&[EOS as f32]);
                assert!(last.terminated && !last.truncated, "{task:?}");
                assert_eq!(last.reward, reward, "{task:?} {answer}");
                // The state is the prompt and the completion, and restores it.
                let mut copy = TextTask::new(task, false);
                assert_eq!(copy.reset_to(&env.state()), env.observation());
            }
        }
    }

    #[test]
    fn partial_credit_is_the_common_subsequence_over_the_longer_and_the_penalty_marks_bad_format() {
        assert_eq!(lcs("abcde", "ace"), 3);
        assert_eq!(lcs("", "ab"), 0);
        assert_eq!(lcs("dcba", "dcba"), 4);
        let partial = Scoring { partial_credit: true, format_penalty: 0.5 };
        // "abcd" reversed is "dcba"; "dcb" shares 3 of 4, "dcbaa" 4 of 5.
        assert_eq!(partial.reward(Task::Reverse, "abcd", "dcba", true), 1.0);
        assert_eq!(partial.reward(Task::Reverse, "abcd", "dcb", true), 0.75);
        assert_eq!(partial.reward(Task::Reverse, "abcd", "dcbaa", true), 0.8);
        // No EOS, or a digit in a word, costs the penalty.
        assert_eq!(partial.reward(Task::Reverse, "abcd", "dcba", false), 0.5);
        assert_eq!(partial.reward(Task::Reverse, "abcd", "dc1a", true), 0.75 - 0.5);
        let exact = Scoring { partial_credit: false, format_penalty: 0.25 };
        assert_eq!(exact.reward(Task::Add, "47+8", "55", true), 1.0);
        assert_eq!(exact.reward(Task::Add, "47+8", "56", true), 0.0);
        assert_eq!(exact.reward(Task::Add, "47+8", "5a", true), -0.25);
        assert_eq!(exact.reward(Task::Add, "47+8", "55", false), -0.25);
        // Through the env: a truncated completion is scored at its last step.
        let mut env = TextTask::new(Task::Add, false).with_scoring(exact);
        env.reset_to(&Task::prompt_tokens("47+8").iter().map(|&t| t as f64).collect::<Vec<_>>());
        let steps = act(&mut env, "55555");
        assert!(steps[..4].iter().all(|t| t.reward == 0.0 && !t.done()));
        assert!(steps[4].truncated && steps[4].reward == -0.25);
    }

    #[test]
    fn a_completion_without_eos_is_truncated_at_the_limit_with_no_reward() {
        let mut env = TextTask::new(Task::Add, false);
        env.reset(Some(1));
        let limit = Task::Add.max_completion_len();
        for i in 1..=limit {
            let t = env.step(&[token('1') as f32]);
            assert_eq!(t.truncated, i == limit);
            assert!(!t.terminated && t.reward == 0.0);
        }
        // Padding or BOS as an action stops the completion without EOS: truncated, unrewarded.
        for stop in [PAD, BOS] {
            env.reset(None);
            let t = env.step(&[stop as f32]);
            assert!(t.truncated && !t.terminated && t.reward == 0.0, "{}", token_text(stop));
        }
    }

    /// One rule for a completion's end (issue 21): EOS, or truncated. Stopped by PAD after the
    /// right letters, it is truncated, scored without EOS (partial credit, and the penalty);
    /// reward and mask agree that it did not end properly. An empty completion pays the penalty.
    #[test]
    fn a_completion_ends_at_eos_or_is_truncated_and_scored_so() {
        let partial = Scoring { partial_credit: true, format_penalty: 0.5 };
        let state: Vec<f64> = Task::prompt_tokens("abcd").iter().map(|&t| t as f64).collect();
        let mut env = TextTask::new(Task::Reverse, false).with_scoring(partial);
        env.reset_to(&state);
        act(&mut env, "dcba");
        let t = env.step(&[PAD as f32]);
        assert!(t.truncated && !t.terminated, "PAD is no ending");
        assert_eq!(t.reward, 1.0 - 0.5, "partial credit for its text, the penalty for no EOS");
        assert!(!env.continues_past_truncation(), "nothing comes after a completion");
        // The same letters then EOS: an ending, no penalty.
        env.reset_to(&state);
        act(&mut env, "dcba");
        let t = env.step(&[EOS as f32]);
        assert!(t.terminated && !t.truncated && t.reward == 1.0);
        // EOS first: an empty completion, which breaks the format.
        env.reset_to(&state);
        let t = env.step(&[EOS as f32]);
        assert!(t.terminated);
        assert_eq!(t.reward, 0.0 - 0.5);
        assert_eq!(Scoring { partial_credit: false, format_penalty: 0.25 }.reward(Task::Add, "1+1", "", true), -0.25);
        // Cut before its end (GRPO's horizon): what it is owed as it stands.
        env.reset_to(&state);
        act(&mut env, "dcb");
        assert_eq!(env.reward_if_cut(), 0.75 - 0.5);
    }

    #[test]
    fn contexts_fit_and_observations_are_right_padded() {
        for task in [Task::Reverse, Task::Add, Task::Sort] {
            let longest = match task {
                Task::Add => "99+99".to_string(),
                _ => "hhhhh".to_string(),
            };
            assert!(Task::prompt_tokens(&longest).len() + task.max_completion_len() <= CONTEXT, "{task:?}");
            let mut env = TextTask::new(task, false);
            let obs = env.reset(Some(3));
            let n = obs.iter().take_while(|&&t| t != PAD as f32).count();
            assert!(obs[n..].iter().all(|&t| t == PAD as f32));
            assert_eq!(obs[0], BOS as f32);
            assert_eq!(obs[n - 1], token('=') as f32);
        }
    }

    #[test]
    fn training_resets_never_draw_a_held_out_prompt_and_evaluation_draws_only_those() {
        for task in [Task::Reverse, Task::Add, Task::Sort] {
            for (held_out, seed) in [(false, 5), (true, 6)] {
                let mut env = TextTask::new(task, held_out);
                env.reset(Some(seed));
                for _ in 0..500 {
                    env.reset(None);
                    assert_eq!(is_held_out(&env.problem()), held_out, "{task:?}");
                }
            }
        }
        let share = (0..100u32).flat_map(|a| (0..100u32).map(move |b| format!("{a}+{b}")));
        let held = share.filter(|p| is_held_out(p)).count();
        assert!((700..1300).contains(&held), "{held} of 10000 additions held out");
    }
}
