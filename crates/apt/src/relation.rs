//! Relationship fields (Depends, Pre-Depends, Recommends, Provides, Breaks, Build-Depends):
//! `a (>= 1.0) | b:any [amd64] <!nocheck>, c`.
//!
//! A field is a list of alternative groups separated by commas; a group is relations
//! separated by `|`. Each relation names a package, optionally with an architecture
//! qualifier (`:any`, `:native`, `:amd64`), a version constraint, an architecture
//! restriction list and build-profile formulas (the last two only occur in source
//! relations). Whitespace, including line breaks, may appear between tokens.

use std::fmt;

use crate::version::{Version, VersionError};

/// A relationship field that does not follow deb-control(5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelationError {
    /// The text is not a valid relation list.
    #[error("invalid relation field {text:?}: {reason}")]
    Syntax {
        /// The whole field.
        text: String,
        /// What is wrong.
        reason: String,
    },
    /// A constraint's version is not a Debian version.
    #[error("invalid relation field {text:?}")]
    Version {
        /// The whole field.
        text: String,
        /// The version error.
        #[source]
        source: VersionError,
    },
}

/// A version comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<<`: strictly earlier.
    Less,
    /// `<=` (and the obsolete `<`, which meant the same).
    LessOrEqual,
    /// `=`.
    Equal,
    /// `>=` (and the obsolete `>`, which meant the same).
    GreaterOrEqual,
    /// `>>`: strictly later.
    Greater,
}

impl Op {
    /// The operator as written in control files.
    pub fn as_str(self) -> &'static str {
        match self {
            Op::Less => "<<",
            Op::LessOrEqual => "<=",
            Op::Equal => "=",
            Op::GreaterOrEqual => ">=",
            Op::Greater => ">>",
        }
    }

    /// Whether `candidate OP reference` holds.
    pub fn holds(self, candidate: &Version<'_>, reference: &Version<'_>) -> bool {
        let ordering = candidate.cmp(reference);
        match self {
            Op::Less => ordering.is_lt(),
            Op::LessOrEqual => ordering.is_le(),
            Op::Equal => ordering.is_eq(),
            Op::GreaterOrEqual => ordering.is_ge(),
            Op::Greater => ordering.is_gt(),
        }
    }
}

/// The architecture qualifier after a package name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArchQualifier<'a> {
    /// `:any`: any architecture, for `Multi-Arch: allowed` packages.
    Any,
    /// `:native`: the build architecture (build dependencies only).
    Native,
    /// `:<arch>`, such as `:amd64`.
    Arch(&'a str),
}

/// A version constraint `(OP version)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Constraint<'a> {
    /// The operator.
    pub op: Op,
    /// The version on the right-hand side.
    pub version: Version<'a>,
}

impl Constraint<'_> {
    /// Whether `candidate` satisfies the constraint.
    pub fn matches(&self, candidate: &Version<'_>) -> bool {
        self.op.holds(candidate, &self.version)
    }
}

/// One package relation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation<'a> {
    /// The package (or virtual package) name.
    pub name: &'a str,
    /// `:any`, `:native` or `:<arch>`.
    pub arch_qualifier: Option<ArchQualifier<'a>>,
    /// `(OP version)`.
    pub constraint: Option<Constraint<'a>>,
    /// The `[...]` architecture list entries (`amd64`, `!i386`); empty when absent.
    pub architectures: Vec<&'a str>,
    /// Each `<...>` build-profile formula, trimmed; empty when absent.
    pub build_profiles: Vec<&'a str>,
}

impl Relation<'_> {
    /// Whether a package (or provided version) `version` meets the constraint. A relation
    /// without a constraint accepts anything, including an unversioned Provides (`None`);
    /// a constrained one never accepts an unversioned Provides.
    pub fn accepts(&self, version: Option<&Version<'_>>) -> bool {
        match (&self.constraint, version) {
            (None, _) => true,
            (Some(constraint), Some(version)) => constraint.matches(version),
            (Some(_), None) => false,
        }
    }
}

/// A parsed relationship field: groups that must all hold, each satisfied by any one of
/// its alternatives.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Relations<'a> {
    /// The comma-separated groups; each has at least one relation.
    pub groups: Vec<Vec<Relation<'a>>>,
}

impl<'a> Relations<'a> {
    /// Parses a Depends-style field. An empty or all-whitespace field has no groups.
    pub fn parse(text: &'a str) -> Result<Self, RelationError> {
        let mut parser = Parser { text, position: 0 };
        let mut groups = Vec::new();
        parser.skip_whitespace();
        if parser.at_end() {
            return Ok(Relations { groups });
        }
        loop {
            let mut group = vec![parser.relation()?];
            loop {
                parser.skip_whitespace();
                match parser.peek() {
                    Some(b'|') => {
                        parser.position += 1;
                        group.push(parser.relation()?);
                    }
                    Some(b',') => {
                        parser.position += 1;
                        break;
                    }
                    None => break,
                    Some(_) => return Err(parser.error("expected `,` or `|` after a relation")),
                }
            }
            groups.push(group);
            parser.skip_whitespace();
            if parser.at_end() {
                if text.trim_ascii_end().ends_with(',') {
                    return Err(parser.error("trailing comma"));
                }
                return Ok(Relations { groups });
            }
        }
    }

    /// Parses a Provides field: a plain list (no alternatives) whose constraints, if any,
    /// use `=`.
    pub fn parse_provides(text: &'a str) -> Result<Vec<Relation<'a>>, RelationError> {
        let relations = Self::parse(text)?;
        let mut provides = Vec::with_capacity(relations.groups.len());
        for mut group in relations.groups {
            let relation =
                group
                    .pop()
                    .filter(|_| group.is_empty())
                    .ok_or_else(|| RelationError::Syntax {
                        text: text.to_owned(),
                        reason: "alternatives are not allowed in Provides".into(),
                    })?;
            if relation
                .constraint
                .is_some_and(|constraint| constraint.op != Op::Equal)
            {
                return Err(RelationError::Syntax {
                    text: text.to_owned(),
                    reason: format!("Provides of {} must use `=`", relation.name),
                });
            }
            provides.push(relation);
        }
        Ok(provides)
    }
}

struct Parser<'a> {
    text: &'a str,
    position: usize,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.position).copied()
    }

    fn at_end(&self) -> bool {
        self.position >= self.text.len()
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(|byte| byte.is_ascii_whitespace()) {
            self.position += 1;
        }
    }

    fn error(&self, reason: &str) -> RelationError {
        RelationError::Syntax {
            text: self.text.to_owned(),
            reason: format!("{reason} (at byte {})", self.position),
        }
    }

    /// Takes bytes while `accept` holds; the bytes are ASCII, so the slice is on char
    /// boundaries.
    fn take_while(&mut self, accept: impl Fn(u8) -> bool) -> &'a str {
        let start = self.position;
        while self.peek().is_some_and(&accept) {
            self.position += 1;
        }
        &self.text[start..self.position]
    }

    fn relation(&mut self) -> Result<Relation<'a>, RelationError> {
        self.skip_whitespace();
        if !self.peek().is_some_and(|byte| byte.is_ascii_alphanumeric()) {
            return Err(self.error("expected a package name"));
        }
        let name = self.take_while(|byte| byte.is_ascii_alphanumeric() || b"+-._".contains(&byte));
        let mut relation = Relation {
            name,
            arch_qualifier: None,
            constraint: None,
            architectures: Vec::new(),
            build_profiles: Vec::new(),
        };
        if self.peek() == Some(b':') {
            self.position += 1;
            let qualifier = self.take_while(|byte| byte.is_ascii_alphanumeric() || byte == b'-');
            relation.arch_qualifier = Some(match qualifier {
                "" => return Err(self.error("empty architecture qualifier")),
                "any" => ArchQualifier::Any,
                "native" => ArchQualifier::Native,
                arch => ArchQualifier::Arch(arch),
            });
        }
        self.skip_whitespace();
        if self.peek() == Some(b'(') {
            self.position += 1;
            relation.constraint = Some(self.constraint()?);
            self.skip_whitespace();
        }
        if self.peek() == Some(b'[') {
            self.position += 1;
            let list = self.take_while(|byte| byte != b']');
            if self.peek() != Some(b']') {
                return Err(self.error("unterminated `[`"));
            }
            self.position += 1;
            relation.architectures = list.split_ascii_whitespace().collect();
            if relation.architectures.is_empty() {
                return Err(self.error("empty architecture list"));
            }
            self.skip_whitespace();
        }
        while self.peek() == Some(b'<') {
            self.position += 1;
            let formula = self.take_while(|byte| byte != b'>');
            if self.peek() != Some(b'>') {
                return Err(self.error("unterminated `<`"));
            }
            self.position += 1;
            let formula = formula.trim_ascii();
            if formula.is_empty() {
                return Err(self.error("empty build profile"));
            }
            relation.build_profiles.push(formula);
            self.skip_whitespace();
        }
        Ok(relation)
    }

    fn constraint(&mut self) -> Result<Constraint<'a>, RelationError> {
        self.skip_whitespace();
        let op = match self.take_while(|byte| matches!(byte, b'<' | b'>' | b'=')) {
            "<<" => Op::Less,
            "<=" | "<" => Op::LessOrEqual,
            "=" => Op::Equal,
            ">=" | ">" => Op::GreaterOrEqual,
            ">>" => Op::Greater,
            _ => return Err(self.error("expected one of << <= = >= >>")),
        };
        self.skip_whitespace();
        let text = self.take_while(|byte| byte != b')' && !byte.is_ascii_whitespace());
        let version = Version::parse(text).map_err(|source| RelationError::Version {
            text: self.text.to_owned(),
            source,
        })?;
        self.skip_whitespace();
        if self.peek() != Some(b')') {
            return Err(self.error("expected `)` after the version"));
        }
        self.position += 1;
        Ok(Constraint { op, version })
    }
}

impl fmt::Display for Relation<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(self.name)?;
        match self.arch_qualifier {
            None => {}
            Some(ArchQualifier::Any) => formatter.write_str(":any")?,
            Some(ArchQualifier::Native) => formatter.write_str(":native")?,
            Some(ArchQualifier::Arch(arch)) => write!(formatter, ":{arch}")?,
        }
        if let Some(constraint) = &self.constraint {
            write!(
                formatter,
                " ({} {})",
                constraint.op.as_str(),
                constraint.version
            )?;
        }
        if !self.architectures.is_empty() {
            write!(formatter, " [{}]", self.architectures.join(" "))?;
        }
        for profile in &self.build_profiles {
            write!(formatter, " <{profile}>")?;
        }
        Ok(())
    }
}

/// Writes `a | b, c` with single spaces, the canonical form dpkg-gencontrol produces.
impl fmt::Display for Relations<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, group) in self.groups.iter().enumerate() {
            if index > 0 {
                formatter.write_str(", ")?;
            }
            for (position, relation) in group.iter().enumerate() {
                if position > 0 {
                    formatter.write_str(" | ")?;
                }
                write!(formatter, "{relation}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_qualifiers_constraints_and_restrictions() {
        let text = "a (>= 1.0) | b:any [amd64 !i386] <!nocheck> <cross>,\n c:native(<<2:3~rc1-1),d,e:amd64 (= 1)";
        let relations = Relations::parse(text).expect("valid");
        assert_eq!(relations.groups.len(), 4);
        let first = &relations.groups[0];
        assert_eq!(first.len(), 2);
        assert_eq!(first[0].name, "a");
        let constraint = first[0].constraint.expect("constrained");
        assert_eq!(
            (constraint.op, constraint.version.as_str()),
            (Op::GreaterOrEqual, "1.0")
        );
        assert_eq!(first[1].arch_qualifier, Some(ArchQualifier::Any));
        assert_eq!(first[1].architectures, vec!["amd64", "!i386"]);
        assert_eq!(first[1].build_profiles, vec!["!nocheck", "cross"]);
        let c = &relations.groups[1][0];
        assert_eq!(c.arch_qualifier, Some(ArchQualifier::Native));
        assert_eq!(
            c.constraint.map(|c| (c.op, c.version.epoch())),
            Some((Op::Less, 2))
        );
        assert_eq!(relations.groups[2][0].name, "d");
        assert_eq!(
            relations.groups[3][0].arch_qualifier,
            Some(ArchQualifier::Arch("amd64"))
        );
        assert_eq!(
            relations.to_string(),
            "a (>= 1.0) | b:any [amd64 !i386] <!nocheck> <cross>, c:native (<< 2:3~rc1-1), d, e:amd64 (= 1)"
        );
        assert_eq!(
            Relations::parse(&relations.to_string()).expect("reparses"),
            relations
        );
    }

    #[test]
    fn obsolete_operators_mean_or_equal() {
        let relations = Relations::parse("a (< 1), b (> 2)").expect("valid");
        let ops: Vec<Op> = relations
            .groups
            .iter()
            .map(|group| group[0].constraint.expect("set").op)
            .collect();
        assert_eq!(ops, vec![Op::LessOrEqual, Op::GreaterOrEqual]);
    }

    #[test]
    fn constraints_follow_dpkg_ordering() {
        let relations = Relations::parse("a (>= 1.0~rc1), b (<< 1.0), c (= 1.0)").expect("valid");
        let version = |text| Version::parse(text).expect("valid");
        let [a, b, c] = [0, 1, 2].map(|index| &relations.groups[index][0]);
        assert!(a.accepts(Some(&version("1.0~rc1"))));
        assert!(!a.accepts(Some(&version("1.0~beta"))));
        assert!(b.accepts(Some(&version("1.0~rc1"))));
        assert!(!b.accepts(Some(&version("1.0"))));
        assert!(c.accepts(Some(&version("0:1.0-0"))));
        assert!(
            !c.accepts(None),
            "an unversioned Provides never meets a constraint"
        );
        assert!(Relations::parse("x").expect("valid").groups[0][0].accepts(None));
    }

    #[test]
    fn provides_with_versions() {
        let provides = Relations::parse_provides("libgcc1 (= 1:12.2.0-14), foo").expect("valid");
        assert_eq!(provides.len(), 2);
        assert_eq!(provides[0].constraint.map(|c| c.version.epoch()), Some(1));
        assert!(provides[1].constraint.is_none());
        assert!(Relations::parse_provides("a | b").is_err());
        assert!(Relations::parse_provides("a (>= 1)").is_err());
    }

    #[test]
    fn rejects_malformed_fields() {
        for bad in [
            "a,",
            "a,,b",
            "a |",
            "(>= 1)",
            "a (>= )",
            "a (=> 1)",
            "a (>= 1",
            "a:",
            "a [amd64",
            "a []",
            "a <>",
            "a b",
            "a (>= 1:)",
        ] {
            let error = Relations::parse(bad).expect_err(bad);
            assert!(error.to_string().contains(&format!("{bad:?}")), "{error}");
        }
        assert!(
            Relations::parse("  ")
                .expect("empty is valid")
                .groups
                .is_empty()
        );
    }

    #[test]
    fn every_relation_field_of_the_fixture_parses() {
        let Some(packages) = crate::packages::fixture::packages() else {
            return;
        };
        let mut count = 0;
        for paragraph in crate::control::Paragraphs::new(packages) {
            for field in paragraph.fields() {
                let field = field.expect("fixture parses");
                let name = field.name();
                let relation_field = [
                    "Depends",
                    "Pre-Depends",
                    "Recommends",
                    "Suggests",
                    "Enhances",
                ]
                .iter()
                .chain(&["Breaks", "Conflicts", "Replaces", "Built-Using"])
                .any(|known| name.eq_ignore_ascii_case(known));
                let text = field.value_str().expect("utf-8");
                if relation_field {
                    let relations =
                        Relations::parse(text).unwrap_or_else(|error| panic!("{error}"));
                    assert_eq!(
                        Relations::parse(&relations.to_string()).as_ref(),
                        Ok(&relations)
                    );
                    count += 1;
                } else if name.eq_ignore_ascii_case("Provides") {
                    Relations::parse_provides(text).unwrap_or_else(|error| panic!("{error}"));
                    count += 1;
                }
            }
        }
        assert!(count > 100_000, "only {count} relation fields");
    }
}
