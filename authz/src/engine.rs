//! Compiling a [`RuleSet`] once per config load, and evaluating it per request or per MCP item.

use std::sync::{Arc, LazyLock};

use cel::{Context, Env, Program, Value};

use crate::bind::{bind, Arguments};
use crate::config::{Rule, RuleKind, RuleSet};
use crate::input::Input;
use crate::limits;
use crate::refs::{self, Needs, PathError};

/// Where a rule set is used, which decides the variables its expressions may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// `authorization` on an HTTP route: identity and `request`.
    Http,
    /// `authorization` on an A2A route: identity and `request`.
    A2a,
    /// `mcpAuthorization`: identity, `request` and `mcp`.
    Mcp,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Http => "an HTTP route's `authorization`",
            Phase::A2a => "an A2A route's `authorization`",
            Phase::Mcp => "`mcpAuthorization`",
        })
    }
}

/// A rule that does not compile. `rule` is its index in `rules`; the gateway adds the file,
/// line and key path (`...rules[<rule>].<kind>`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rules[{rule}].{kind}: {problem}")]
pub struct RuleError {
    /// Index of the rule in `rules`.
    pub rule: usize,
    /// `allow`, `deny` or `require`: the key under the rule.
    pub kind: RuleKind,
    /// What is wrong.
    pub problem: Problem,
}

/// What is wrong with a rule's expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// The expression does not parse.
    #[error("invalid CEL expression: {0}")]
    Syntax(String),
    /// It is too long or too deeply nested to evaluate safely.
    #[error("expression too complex: {0}")]
    TooComplex(String),
    /// The compiler could not run (no thread, or it panicked).
    #[error("cannot compile: {0}")]
    Internal(String),
    /// It names a variable that does not exist.
    #[error("unknown variable `{name}` (rules can read {known})")]
    UnknownVariable {
        /// The name as written.
        name: String,
        /// The variables this phase has, for the message.
        known: &'static str,
    },
    /// It names a variable that exists, but not where this rule set is used.
    #[error("`{name}` is not available in {phase} (only in `mcpAuthorization`)")]
    NotInPhase {
        /// The variable.
        name: String,
        /// Where the rule set is used.
        phase: Phase,
    },
    /// It names a field that a fixed-shape variable does not have.
    #[error("unknown field `{path}` (it has {known})")]
    UnknownField {
        /// The path as written, e.g. `request.header`.
        path: String,
        /// The fields it has.
        known: String,
    },
}

/// Why a decision came out the way it did; rule numbers are indexes in `rules`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// No rules: everything is allowed.
    NoRules,
    /// No `allow` rules, and no `deny` / `require` rule stopped it.
    NoAllowRules,
    /// This `allow` rule matched.
    AllowRule(usize),
    /// Listing only: this `allow` rule depends on the call's arguments, so it may allow the call.
    MayAllow(usize),
    /// This `deny` rule matched.
    DenyRule(usize),
    /// This `require` rule was false.
    RequireFailed(usize),
    /// There are `allow` rules and none matched.
    NoAllowMatched,
    /// This rule failed to evaluate, and the failure decided (see [`Outcome::errors`]).
    EvalError(usize),
}

/// A rule that failed to evaluate: a missing key, a wrong type, a non-bool result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalError {
    /// Index of the rule in `rules`.
    pub rule: usize,
    /// The rule's kind.
    pub kind: RuleKind,
    /// The CEL error.
    pub message: String,
}

/// The result of evaluating a rule set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Allowed or not.
    pub allowed: bool,
    /// The rule (or absence of rules) that decided.
    pub reason: Reason,
    /// Every rule that failed to evaluate on the way, whether or not it decided, for the
    /// gateway to log and count. Empty in the common case.
    pub errors: Vec<EvalError>,
}

/// One compiled rule.
#[derive(Debug)]
struct Compiled {
    index: usize,
    program: Program,
    needs: Needs,
}

/// A rule set compiled for one [`Phase`]; build it once per config load and share it.
#[derive(Debug)]
pub struct CompiledRules {
    deny: Vec<Compiled>,
    require: Vec<Compiled>,
    allow: Vec<Compiled>,
    /// The union of what the rules read: what evaluation has to build.
    needs: Needs,
}

/// The standard CEL environment, built once: building it registers every standard function.
static ENV: LazyLock<Arc<Env>> = LazyLock::new(|| Arc::new(Env::stdlib()));

/// A three-valued rule result, for listing (where the arguments are not known).
#[derive(Debug)]
enum Tri {
    True,
    False,
    /// Depends on the call's arguments.
    Unknown,
    Error(String),
}

impl CompiledRules {
    /// Compiles every rule, reporting every rule that does not compile.
    pub fn compile(set: &RuleSet, phase: Phase) -> Result<CompiledRules, Vec<RuleError>> {
        let RuleSet { rules } = set;
        let mut errors = Vec::new();
        let mut out = CompiledRules {
            deny: Vec::new(),
            require: Vec::new(),
            allow: Vec::new(),
            needs: Needs::default(),
        };
        let parsed = match parse_all(rules) {
            Ok(parsed) => parsed,
            Err(problem) => {
                return Err(vec![RuleError {
                    rule: 0,
                    kind: rules.first().map_or(RuleKind::Allow, |r| r.parts().0),
                    problem,
                }])
            }
        };
        for (index, (rule, parsed)) in rules.iter().zip(parsed).enumerate() {
            let kind = rule.parts().0;
            let err = |problem| RuleError {
                rule: index,
                kind,
                problem,
            };
            let program = match parsed {
                Ok(p) => p,
                Err(problem) => {
                    errors.push(err(problem));
                    continue;
                }
            };
            let mut needs = Needs::default();
            let mut ok = true;
            for path in refs::paths(program.expression()) {
                if let Err(e) = refs::check(phase, &path) {
                    ok = false;
                    errors.push(err(problem(e, phase)));
                }
                needs.add(&path);
            }
            if !ok {
                continue;
            }
            out.needs = out.needs.union(needs);
            let compiled = Compiled {
                index,
                program,
                needs,
            };
            match kind {
                RuleKind::Deny => out.deny.push(compiled),
                RuleKind::Require => out.require.push(compiled),
                RuleKind::Allow => out.allow.push(compiled),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }

    /// True when the set has no rules (everything is allowed; callers may skip evaluation).
    pub fn is_empty(&self) -> bool {
        self.deny.is_empty() && self.require.is_empty() && self.allow.is_empty()
    }

    /// True when some rule reads `mcp.tool.arguments`, so a tool call must be checked with its
    /// arguments and not only by name.
    pub fn reads_tool_arguments(&self) -> bool {
        self.needs.tool_arguments
    }

    /// Decides a request (HTTP / A2A) or an MCP call (`tools/call`, `prompts/get`,
    /// `resources/read`, ...) with everything known.
    pub fn evaluate(&self, input: &Input<'_>) -> Outcome {
        self.run(input, Arguments::Given)
    }

    /// Decides whether an MCP item is shown in a list (`tools/list`, ...), where a tool's call
    /// arguments are not known yet. `input.mcp.item.arguments` is ignored.
    ///
    /// A rule whose result depends on the arguments is treated as *unknown*: an unknown `allow`
    /// may allow (the item is listed), an unknown `deny` or `require` does not hide it. So an
    /// item that some arguments would make callable is always listed (the fuzz tests check this
    /// property); one that no arguments allow may still be listed when only its arguments say
    /// so, and its call is then refused by [`Self::evaluate`]. A rule's result depends on the arguments when it fails with them
    /// left out: CEL's `&&` and `||` ignore a failing side when the other side decides, so
    /// `mcp.tool.name == "pay" && mcp.tool.arguments.amount < 100` is false (hide) for every
    /// tool but `pay`, and unknown (list) for `pay`. Rules that use `mcp`, `mcp.tool` whole or
    /// `has(mcp.tool.arguments)` are unknown without evaluating them.
    ///
    /// Hiding a tool that some arguments would allow would make it uncallable for clients that
    /// only call what they were shown, which is why this errs on the side of listing.
    pub fn check_listing(&self, input: &Input<'_>) -> Outcome {
        self.run(input, Arguments::Unknown)
    }

    fn run(&self, input: &Input<'_>, arguments: Arguments) -> Outcome {
        let mut errors = Vec::new();
        if self.is_empty() {
            return outcome(true, Reason::NoRules, errors);
        }
        let mut ctx = Context::with_env(Arc::clone(&ENV));
        bind(&mut ctx, input, &self.needs, arguments);
        let listing_tool = arguments == Arguments::Unknown
            && matches!(input.mcp.and_then(|m| m.item), Some(i) if i.kind == crate::McpKind::Tool);
        let eval = |rule: &Compiled| -> Tri {
            let unknown_possible = listing_tool && rule.needs.tool_arguments;
            if unknown_possible && rule.needs.arguments_opaque {
                return Tri::Unknown;
            }
            match rule.program.execute(&ctx) {
                Ok(Value::Bool(true)) => Tri::True,
                Ok(Value::Bool(false)) => Tri::False,
                _ if unknown_possible => Tri::Unknown,
                Ok(other) => Tri::Error(format!(
                    "the rule evaluated to a {}, not a bool",
                    other.type_of()
                )),
                Err(e) => Tri::Error(e.to_string()),
            }
        };
        let failed = |rule: &Compiled, kind, message| EvalError {
            rule: rule.index,
            kind,
            message,
        };
        for rule in &self.deny {
            match eval(rule) {
                Tri::True => return outcome(false, Reason::DenyRule(rule.index), errors),
                Tri::False | Tri::Unknown => {}
                Tri::Error(m) => {
                    errors.push(failed(rule, RuleKind::Deny, m));
                    return outcome(false, Reason::EvalError(rule.index), errors);
                }
            }
        }
        for rule in &self.require {
            match eval(rule) {
                Tri::False => return outcome(false, Reason::RequireFailed(rule.index), errors),
                Tri::True | Tri::Unknown => {}
                Tri::Error(m) => {
                    errors.push(failed(rule, RuleKind::Require, m));
                    return outcome(false, Reason::EvalError(rule.index), errors);
                }
            }
        }
        if self.allow.is_empty() {
            return outcome(true, Reason::NoAllowRules, errors);
        }
        for rule in &self.allow {
            match eval(rule) {
                Tri::True => return outcome(true, Reason::AllowRule(rule.index), errors),
                Tri::Unknown => return outcome(true, Reason::MayAllow(rule.index), errors),
                Tri::False => {}
                // A failing allow rule grants nothing; another allow rule still may.
                Tri::Error(m) => errors.push(failed(rule, RuleKind::Allow, m)),
            }
        }
        let reason = match errors.first() {
            Some(e) => Reason::EvalError(e.rule),
            None => Reason::NoAllowMatched,
        };
        outcome(false, reason, errors)
    }
}

/// Parses every rule on a thread with a large stack (see [`limits`]); a panic in the parser is
/// reported, not propagated.
fn parse_all(rules: &[Rule]) -> Result<Vec<Result<Program, Problem>>, Problem> {
    let parse = || {
        rules
            .iter()
            .map(|rule| {
                let source = rule.parts().1;
                limits::check_source(source).map_err(Problem::TooComplex)?;
                let program = ENV
                    .compile(source)
                    .map_err(|e| Problem::Syntax(e.to_string()))?;
                limits::check_tree(program.expression()).map_err(Problem::TooComplex)?;
                Ok(program)
            })
            .collect::<Vec<_>>()
    };
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("cel-compile".into())
            .stack_size(limits::COMPILE_STACK)
            .spawn_scoped(scope, parse)
            .map_err(|e| Problem::Internal(format!("cannot start the CEL compiler thread: {e}")))?;
        worker
            .join()
            .map_err(|_| Problem::Internal("the CEL parser panicked".into()))
    })
}

fn outcome(allowed: bool, reason: Reason, errors: Vec<EvalError>) -> Outcome {
    Outcome {
        allowed,
        reason,
        errors,
    }
}

fn problem(e: PathError, phase: Phase) -> Problem {
    match e {
        PathError::UnknownVariable(name) => Problem::UnknownVariable {
            name,
            known: match phase {
                Phase::Mcp => "`jwt`, `apiKey`, `basicAuth`, `request`, `mcp`",
                Phase::Http | Phase::A2a => "`jwt`, `apiKey`, `basicAuth`, `request`",
            },
        },
        PathError::NotInPhase(name) => Problem::NotInPhase { name, phase },
        PathError::UnknownField { path, known } => Problem::UnknownField {
            path,
            known: known
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
        },
    }
}
