//! Classification from sqlparser's tree: what a parsed query or DML statement
//! reads and writes. The walk collects tables, function calls, user-variable
//! use, locking clauses and INTO targets.
//!
//! sqlparser's `visitor` feature is not enabled in this build, so the walk is
//! written out. It covers the expressions MySqlDialect produces; where it
//! meets a node it does not descend into, it says so (`incomplete`) and the
//! caller falls back on the scanner's list of calls for the whole statement,
//! which can only err towards the master.

use sqlparser::ast::{
    AccessExpr, BinaryOperator, CreateTableLikeKind, Expr, FromTable, Function, FunctionArg, FunctionArgExpr,
    FunctionArgumentClause, FunctionArguments, GroupByExpr, InTarget, JoinConstraint, JoinOperator, LimitClause,
    NamedWindowExpr, ObjectName, ObjectNamePart, ObjectType, OnConflictAction, OnInsert, OrderByKind, Query, Select,
    SelectItem, SelectItemQualifiedWildcardKind, SetExpr, Statement, Subscript, TableFactor, TableObject,
    TableWithJoins, UpdateTableFromKind, WindowSpec, WindowType,
};

use super::functions;
use super::lexer::Facts;
use super::parse::{apply_call, apply_facts, Ctx, Part};
use super::Effects;

/// Classifies a parsed statement, or `None` when its kind is fully described
/// by its leading keywords (the keyword table in `parse.rs` handles it).
pub(crate) fn classify(ctx: &Ctx<'_>, stmt: &Statement, facts: &Facts) -> Option<Part> {
    let mut walk = Walk::default();
    let part = match stmt {
        Statement::Query(q) => {
            walk.query(q);
            walk.into_part(ctx, facts, Part::read(0))
        }
        Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) | Statement::Merge(_) => {
            walk.dml(stmt);
            walk.into_part(ctx, facts, Part::write(0))
        }
        Statement::Call(f) => {
            walk.function(f);
            let mut part = walk.into_part(ctx, facts, Part::write(Effects::CALL));
            // `CALL p(@out)`: OUT and INOUT parameters assign the variable.
            if part.effects & Effects::READS_USER_VAR != 0 {
                part.effects |= Effects::ASSIGNS_USER_VAR;
            }
            part
        }
        Statement::Explain { analyze: true, statement, .. } => {
            // EXPLAIN ANALYZE runs the statement.
            let mut part = classify(ctx, statement, facts)?;
            part.effects &= !Effects::UNPARSED;
            part
        }
        Statement::Explain { statement, .. } => {
            // The plan is computed, the statement not run: a read whatever it
            // is, with its tables (a temporary table exists only on the
            // connection that created it).
            walk.statement_tables(statement);
            walk.tables_only(Part::read(0))
        }
        Statement::ExplainTable { table_name, .. } => {
            walk.object(table_name);
            walk.tables_only(Part::read(0))
        }
        Statement::CreateTable(ct) => {
            walk.object(&ct.name);
            if let Some(like) = &ct.like {
                match like {
                    CreateTableLikeKind::Parenthesized(l) | CreateTableLikeKind::Plain(l) => walk.object(&l.name),
                }
            }
            if let Some(clone) = &ct.clone {
                walk.object(clone);
            }
            // CREATE TEMPORARY TABLE does not commit the transaction.
            let base = if ct.temporary {
                Part::write(Effects::CREATE_TEMP_TABLE)
            } else {
                Part::write(Effects::IMPLICIT_COMMIT)
            };
            match &ct.query {
                Some(q) => {
                    walk.query(q);
                    walk.into_part(ctx, facts, base)
                }
                None => walk.tables_only(base),
            }
        }
        Statement::CreateView(v) => {
            // Defines the query, does not run it.
            walk.object(&v.name);
            walk.statement_tables(&Statement::Query(v.query.clone()));
            walk.tables_only(Part::write(Effects::IMPLICIT_COMMIT))
        }
        Statement::CreateIndex(ci) => {
            walk.object(&ci.table_name);
            walk.tables_only(Part::write(Effects::IMPLICIT_COMMIT))
        }
        Statement::AlterTable(at) => {
            walk.object(&at.name);
            walk.tables_only(Part::write(Effects::IMPLICIT_COMMIT))
        }
        Statement::Drop { object_type, temporary, names, table, .. } => {
            if matches!(object_type, ObjectType::Table | ObjectType::View) {
                for n in names {
                    walk.object(n);
                }
            }
            if let Some(t) = table {
                walk.object(t);
            }
            let effects = if *temporary && *object_type == ObjectType::Table {
                Effects::DROP_TEMP_TABLE
            } else {
                Effects::IMPLICIT_COMMIT
            };
            walk.tables_only(Part::write(effects))
        }
        Statement::Truncate(t) => {
            for target in &t.table_names {
                walk.object(&target.name);
            }
            walk.tables_only(Part::write(Effects::IMPLICIT_COMMIT))
        }
        Statement::RenameTable(renames) => {
            for r in renames {
                walk.object(&r.old_name);
                walk.object(&r.new_name);
            }
            walk.tables_only(Part::write(Effects::IMPLICIT_COMMIT))
        }
        Statement::LockTables { tables } => {
            for t in tables {
                walk.table(&t.table.value);
            }
            walk.tables_only(Part::write(Effects::LOCK_TABLES | Effects::IMPLICIT_COMMIT))
        }
        _ => return None,
    };
    Some(part)
}

/// What the walk found.
#[derive(Debug, Default)]
struct Walk {
    tables: Vec<String>,
    /// (upper-case name, qualified, no arguments)
    calls: Vec<(String, bool, bool)>,
    assigns_user_var: bool,
    reads_user_var: bool,
    locking: bool,
    into_user_var: bool,
    into_other: bool,
    calc_found_rows: bool,
    /// A DML statement nested in a query (`WITH ... UPDATE`).
    writes_rows: bool,
    /// Some node was not descended into.
    incomplete: bool,
    /// Current expression / query nesting.
    depth: usize,
}

/// Expression and query nesting walked at most. sqlparser limits nesting by
/// parentheses to 50 but not the depth of operator chains (`a AND b AND ...`
/// is a tree as deep as it is long); past this the walk stops and reports
/// itself incomplete.
const MAX_WALK_DEPTH: usize = 200;

impl Walk {
    /// The classification of a statement that evaluates what was walked.
    fn into_part(self, ctx: &Ctx<'_>, facts: &Facts, mut part: Part) -> Part {
        for t in &self.tables {
            part.add_table(t);
        }
        if self.locking {
            part.write_effect(Effects::LOCKING_READ);
        }
        if self.into_user_var || self.assigns_user_var {
            part.write_effect(Effects::ASSIGNS_USER_VAR);
        }
        if self.into_other || self.writes_rows {
            part.force_write();
        }
        if self.calc_found_rows {
            part.write_effect(Effects::SQL_CALC_FOUND_ROWS);
        }
        if self.reads_user_var {
            part.effects |= Effects::READS_USER_VAR;
        }
        for (name, qualified, no_args) in &self.calls {
            apply_call(&mut part, functions::kind(name, *qualified, *no_args), ctx.opts, true);
        }
        // The scanner's facts as a safety net; its calls count as unknown only
        // where the walk could not see everything.
        apply_facts(&mut part, facts, ctx.opts, self.incomplete);
        part
    }

    /// For statements that name tables without evaluating anything.
    fn tables_only(self, mut part: Part) -> Part {
        for t in &self.tables {
            part.add_table(t);
        }
        part
    }

    fn table(&mut self, name: &str) {
        let lower = name.to_lowercase();
        if lower != "dual" && !self.tables.contains(&lower) {
            self.tables.push(lower);
        }
    }

    /// A table name: its last part.
    fn object(&mut self, name: &ObjectName) {
        if let Some(ObjectNamePart::Identifier(id)) = name.0.last() {
            self.table(&id.value);
        }
    }

    /// Tables of a statement that is not run (EXPLAIN, CREATE VIEW).
    fn statement_tables(&mut self, stmt: &Statement) {
        let mut inner = Walk::default();
        match stmt {
            Statement::Query(q) => inner.query(q),
            Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) | Statement::Merge(_) => inner.dml(stmt),
            _ => {}
        }
        for t in inner.tables {
            self.table(&t);
        }
    }

    fn dml(&mut self, stmt: &Statement) {
        match stmt {
            Statement::Insert(ins) => {
                match &ins.table {
                    TableObject::TableName(n) => self.object(n),
                    TableObject::TableFunction(f) => self.function(f),
                    TableObject::TableQuery(q) => self.query(q),
                }
                if let Some(q) = &ins.source {
                    self.query(q);
                }
                for a in &ins.assignments {
                    self.expr(&a.value);
                }
                match &ins.on {
                    Some(OnInsert::DuplicateKeyUpdate(assignments)) => {
                        for a in assignments {
                            self.expr(&a.value);
                        }
                    }
                    Some(OnInsert::OnConflict(oc)) => {
                        if let OnConflictAction::DoUpdate(du) = &oc.action {
                            for a in &du.assignments {
                                self.expr(&a.value);
                            }
                            self.opt_expr(du.selection.as_ref());
                        }
                    }
                    Some(_) => self.incomplete = true,
                    None => {}
                }
                self.returning(ins.returning.as_deref());
            }
            Statement::Update(u) => {
                self.table_with_joins(&u.table);
                for a in &u.assignments {
                    self.expr(&a.value);
                }
                match &u.from {
                    Some(UpdateTableFromKind::BeforeSet(v) | UpdateTableFromKind::AfterSet(v)) => {
                        for t in v {
                            self.table_with_joins(t);
                        }
                    }
                    None => {}
                }
                self.opt_expr(u.selection.as_ref());
                self.returning(u.returning.as_deref());
                for o in &u.order_by {
                    self.expr(&o.expr);
                }
                self.opt_expr(u.limit.as_ref());
            }
            Statement::Delete(d) => {
                for n in &d.tables {
                    self.object(n);
                }
                match &d.from {
                    FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => {
                        for t in v {
                            self.table_with_joins(t);
                        }
                    }
                }
                for t in d.using.iter().flatten() {
                    self.table_with_joins(t);
                }
                self.opt_expr(d.selection.as_ref());
                self.returning(d.returning.as_deref());
                for o in &d.order_by {
                    self.expr(&o.expr);
                }
                self.opt_expr(d.limit.as_ref());
            }
            Statement::Merge(m) => {
                self.table_factor(&m.table);
                self.table_factor(&m.source);
                self.expr(&m.on);
                // WHEN clauses: a write anyway; their calls come from the scanner.
                if !m.clauses.is_empty() {
                    self.incomplete = true;
                }
            }
            _ => self.incomplete = true,
        }
    }

    fn returning(&mut self, items: Option<&[SelectItem]>) {
        for item in items.unwrap_or_default() {
            self.select_item(item);
        }
    }

    fn query(&mut self, q: &Query) {
        if self.depth >= MAX_WALK_DEPTH {
            self.incomplete = true;
            return;
        }
        self.depth += 1;
        self.query_inner(q);
        self.depth -= 1;
    }

    fn query_inner(&mut self, q: &Query) {
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                self.query(&cte.query);
            }
        }
        self.set_expr(&q.body);
        if let Some(order_by) = &q.order_by {
            if let OrderByKind::Expressions(exprs) = &order_by.kind {
                for o in exprs {
                    self.expr(&o.expr);
                }
            }
        }
        match &q.limit_clause {
            Some(LimitClause::LimitOffset { limit, offset, limit_by }) => {
                self.opt_expr(limit.as_ref());
                if let Some(o) = offset {
                    self.expr(&o.value);
                }
                for e in limit_by {
                    self.expr(e);
                }
            }
            Some(LimitClause::OffsetCommaLimit { offset, limit }) => {
                self.expr(offset);
                self.expr(limit);
            }
            None => {}
        }
        if !q.locks.is_empty() {
            self.locking = true;
        }
        if q.fetch.is_some() || !q.pipe_operators.is_empty() || q.settings.is_some() {
            self.incomplete = true;
        }
    }

    fn set_expr(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Select(s) => self.select(s),
            SetExpr::Query(q) => self.query(q),
            SetExpr::SetOperation { left, right, .. } => {
                self.set_expr(left);
                self.set_expr(right);
            }
            SetExpr::Values(v) => {
                for row in &v.rows {
                    for e in &row.content {
                        self.expr(e);
                    }
                }
            }
            SetExpr::Insert(stmt) | SetExpr::Update(stmt) | SetExpr::Delete(stmt) | SetExpr::Merge(stmt) => {
                self.writes_rows = true;
                self.dml(stmt);
            }
            SetExpr::Table(t) => {
                if let Some(name) = &t.table_name {
                    self.table(&name.value);
                }
            }
        }
    }

    fn select(&mut self, s: &Select) {
        if s.select_modifiers.as_ref().is_some_and(|m| m.sql_calc_found_rows) {
            self.calc_found_rows = true;
        }
        for item in &s.projection {
            self.select_item(item);
        }
        if let Some(into) = &s.into {
            for target in &into.targets {
                match target {
                    Expr::Identifier(id) if id.quote_style.is_none() && id.value.starts_with('@') => {
                        self.into_user_var = true;
                    }
                    _ => self.into_other = true,
                }
            }
            if into.targets.is_empty() {
                self.into_other = true;
            }
        }
        for t in &s.from {
            self.table_with_joins(t);
        }
        self.opt_expr(s.prewhere.as_ref());
        self.opt_expr(s.selection.as_ref());
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            for e in exprs {
                self.expr(e);
            }
        }
        for e in s.cluster_by.iter().chain(&s.distribute_by) {
            self.expr(e);
        }
        for o in &s.sort_by {
            self.expr(&o.expr);
        }
        self.opt_expr(s.having.as_ref());
        for w in &s.named_window {
            if let NamedWindowExpr::WindowSpec(spec) = &w.1 {
                self.window(spec);
            }
        }
        self.opt_expr(s.qualify.as_ref());
        if !s.lateral_views.is_empty() || !s.connect_by.is_empty() {
            self.incomplete = true;
        }
    }

    fn select_item(&mut self, item: &SelectItem) {
        match item {
            SelectItem::UnnamedExpr(e)
            | SelectItem::ExprWithAlias { expr: e, .. }
            | SelectItem::ExprWithAliases { expr: e, .. } => self.expr(e),
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::Expr(e), _) => self.expr(e),
            SelectItem::QualifiedWildcard(SelectItemQualifiedWildcardKind::ObjectName(_), _)
            | SelectItem::Wildcard(_) => {}
        }
    }

    fn table_with_joins(&mut self, t: &TableWithJoins) {
        self.table_factor(&t.relation);
        for join in &t.joins {
            self.table_factor(&join.relation);
            let constraint = match &join.join_operator {
                JoinOperator::Join(c)
                | JoinOperator::Inner(c)
                | JoinOperator::Left(c)
                | JoinOperator::LeftOuter(c)
                | JoinOperator::Right(c)
                | JoinOperator::RightOuter(c)
                | JoinOperator::FullOuter(c)
                | JoinOperator::CrossJoin(c)
                | JoinOperator::Semi(c)
                | JoinOperator::LeftSemi(c)
                | JoinOperator::RightSemi(c)
                | JoinOperator::Anti(c)
                | JoinOperator::LeftAnti(c)
                | JoinOperator::RightAnti(c)
                | JoinOperator::StraightJoin(c) => Some(c),
                JoinOperator::AsOf { match_condition, constraint } => {
                    self.expr(match_condition);
                    Some(constraint)
                }
                _ => {
                    self.incomplete = true;
                    None
                }
            };
            if let Some(JoinConstraint::On(e)) = constraint {
                self.expr(e);
            }
        }
    }

    fn table_factor(&mut self, f: &TableFactor) {
        match f {
            TableFactor::Table { name, args, .. } => match args {
                // `name(args)` in FROM: a table function.
                Some(a) => {
                    self.call_name(name, a.args.is_empty());
                    self.function_args(&a.args);
                }
                None => self.object(name),
            },
            TableFactor::Derived { subquery, .. } => self.query(subquery),
            TableFactor::TableFunction { expr, .. } => self.expr(expr),
            TableFactor::Function { name, args, .. } => {
                self.call_name(name, args.is_empty());
                self.function_args(args);
            }
            TableFactor::JsonTable { json_expr, .. } => self.expr(json_expr),
            TableFactor::NestedJoin { table_with_joins, .. } => self.table_with_joins(table_with_joins),
            TableFactor::UNNEST { array_exprs, .. } => {
                for e in array_exprs {
                    self.expr(e);
                }
            }
            _ => self.incomplete = true,
        }
    }

    fn call_name(&mut self, name: &ObjectName, no_args: bool) {
        let qualified = name.0.len() > 1;
        let last = match name.0.last() {
            Some(ObjectNamePart::Identifier(id)) => id.value.to_ascii_uppercase(),
            _ => {
                self.incomplete = true;
                return;
            }
        };
        self.calls.push((last, qualified, no_args));
    }

    fn function(&mut self, f: &Function) {
        let no_args = match &f.args {
            FunctionArguments::None => true,
            FunctionArguments::List(l) => l.args.is_empty(),
            FunctionArguments::Subquery(_) => false,
        };
        self.call_name(&f.name, no_args);
        for args in [&f.parameters, &f.args] {
            match args {
                FunctionArguments::None => {}
                FunctionArguments::Subquery(q) => self.query(q),
                FunctionArguments::List(l) => {
                    self.function_args(&l.args);
                    for clause in &l.clauses {
                        match clause {
                            FunctionArgumentClause::OrderBy(v) => {
                                for o in v {
                                    self.expr(&o.expr);
                                }
                            }
                            FunctionArgumentClause::Where(e) | FunctionArgumentClause::Limit(e) => self.expr(e),
                            FunctionArgumentClause::Having(h) => self.expr(&h.1),
                            _ => {}
                        }
                    }
                }
            }
        }
        if let Some(filter) = &f.filter {
            self.expr(filter);
        }
        for o in &f.within_group {
            self.expr(&o.expr);
        }
        if let Some(WindowType::WindowSpec(spec)) = &f.over {
            self.window(spec);
        }
    }

    fn function_args(&mut self, args: &[FunctionArg]) {
        for arg in args {
            let arg = match arg {
                FunctionArg::Named { arg, .. } => arg,
                FunctionArg::ExprNamed { name, arg, .. } => {
                    self.expr(name);
                    arg
                }
                FunctionArg::Unnamed(arg) => arg,
            };
            if let FunctionArgExpr::Expr(e) = arg {
                self.expr(e);
            }
        }
    }

    fn window(&mut self, spec: &WindowSpec) {
        for e in &spec.partition_by {
            self.expr(e);
        }
        for o in &spec.order_by {
            self.expr(&o.expr);
        }
    }

    fn opt_expr(&mut self, e: Option<&Expr>) {
        if let Some(e) = e {
            self.expr(e);
        }
    }

    fn exprs(&mut self, v: &[Expr]) {
        for e in v {
            self.expr(e);
        }
    }

    fn expr(&mut self, e: &Expr) {
        if self.depth >= MAX_WALK_DEPTH {
            self.incomplete = true;
            return;
        }
        self.depth += 1;
        self.expr_inner(e);
        self.depth -= 1;
    }

    fn expr_inner(&mut self, e: &Expr) {
        match e {
            Expr::Identifier(id) => {
                // MySqlDialect reads `@v` as an identifier; `@@v` is a
                // system variable (the scanner checks those).
                if id.quote_style.is_none() && id.value.starts_with('@') && !id.value.starts_with("@@") {
                    self.reads_user_var = true;
                }
            }
            Expr::CompoundIdentifier(_) | Expr::Value(_) | Expr::TypedString(_) => {}
            Expr::MatchAgainst { .. } | Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => {}
            Expr::CompoundFieldAccess { root, access_chain } => {
                self.expr(root);
                for a in access_chain {
                    match a {
                        AccessExpr::Dot(e) => self.expr(e),
                        AccessExpr::Subscript(Subscript::Index { index }) => self.expr(index),
                        AccessExpr::Subscript(Subscript::Slice { lower_bound, upper_bound, stride }) => {
                            self.opt_expr(lower_bound.as_ref());
                            self.opt_expr(upper_bound.as_ref());
                            self.opt_expr(stride.as_ref());
                        }
                    }
                }
            }
            Expr::JsonAccess { value, .. } => self.expr(value),
            Expr::IsFalse(e)
            | Expr::IsNotFalse(e)
            | Expr::IsTrue(e)
            | Expr::IsNotTrue(e)
            | Expr::IsNull(e)
            | Expr::IsNotNull(e)
            | Expr::IsUnknown(e)
            | Expr::IsNotUnknown(e)
            | Expr::Nested(e)
            | Expr::OuterJoin(e)
            | Expr::Prior(e) => self.expr(e),
            Expr::IsDistinctFrom(a, b) | Expr::IsNotDistinctFrom(a, b) => {
                self.expr(a);
                self.expr(b);
            }
            Expr::IsJson { expr, .. } | Expr::IsNormalized { expr, .. } => self.expr(expr),
            Expr::In { expr, target, .. } => {
                self.expr(expr);
                match target {
                    InTarget::List(v) => self.exprs(v),
                    InTarget::Subquery(q) => self.query(q),
                    InTarget::Unnest(e) => self.expr(e),
                    InTarget::Table { name, args } => {
                        self.object(name);
                        if let Some(args) = args {
                            self.function_args(args);
                        }
                    }
                }
            }
            Expr::Between { expr, low, high, .. } => {
                self.expr(expr);
                self.expr(low);
                self.expr(high);
            }
            Expr::BinaryOp { left, op: BinaryOperator::Assignment, right } => {
                match left.as_ref() {
                    Expr::Identifier(id) if id.quote_style.is_none() && id.value.starts_with('@') => {
                        self.assigns_user_var = true;
                    }
                    other => self.expr(other),
                }
                self.expr(right);
            }
            Expr::BinaryOp { left, right, .. } | Expr::AnyOp { left, right, .. } | Expr::AllOp { left, right, .. } => {
                self.expr(left);
                self.expr(right);
            }
            Expr::Like { expr, pattern, escape_char, .. }
            | Expr::ILike { expr, pattern, escape_char, .. }
            | Expr::SimilarTo { expr, pattern, escape_char, .. } => {
                self.expr(expr);
                self.expr(pattern);
                if let Some(esc) = escape_char {
                    self.expr(esc);
                }
            }
            Expr::RLike { expr, pattern, .. } => {
                self.expr(expr);
                self.expr(pattern);
            }
            Expr::UnaryOp { expr, .. }
            | Expr::Cast { expr, .. }
            | Expr::Extract { expr, .. }
            | Expr::Ceil { expr, .. }
            | Expr::Floor { expr, .. }
            | Expr::Collate { expr, .. }
            | Expr::Named { expr, .. } => self.expr(expr),
            Expr::Convert { expr, styles, .. } => {
                self.expr(expr);
                self.exprs(styles);
            }
            Expr::AtTimeZone { timestamp, time_zone } => {
                self.expr(timestamp);
                self.expr(time_zone);
            }
            Expr::Position { expr, r#in } => {
                self.expr(expr);
                self.expr(r#in);
            }
            Expr::Substring { expr, substring_from, substring_for, .. } => {
                self.expr(expr);
                if let Some(e) = substring_from {
                    self.expr(e);
                }
                if let Some(e) = substring_for {
                    self.expr(e);
                }
            }
            Expr::Trim { expr, trim_what, trim_characters, .. } => {
                self.expr(expr);
                if let Some(e) = trim_what {
                    self.expr(e);
                }
                if let Some(v) = trim_characters {
                    self.exprs(v);
                }
            }
            Expr::Overlay { expr, overlay_what, overlay_from, overlay_for } => {
                self.expr(expr);
                self.expr(overlay_what);
                self.expr(overlay_from);
                if let Some(e) = overlay_for {
                    self.expr(e);
                }
            }
            Expr::Prefixed { value, .. } => self.expr(value),
            Expr::Function(f) => self.function(f),
            Expr::Case { operand, conditions, else_result, .. } => {
                if let Some(op) = operand {
                    self.expr(op);
                }
                for cw in conditions {
                    self.expr(&cw.condition);
                    self.expr(&cw.result);
                }
                if let Some(e) = else_result {
                    self.expr(e);
                }
            }
            Expr::Exists { subquery, .. } | Expr::Subquery(subquery) => self.query(subquery),
            Expr::GroupingSets(vv) | Expr::Cube(vv) | Expr::Rollup(vv) => {
                for v in vv {
                    self.exprs(v);
                }
            }
            Expr::Tuple(v) => self.exprs(v),
            Expr::Interval(iv) => self.expr(&iv.value),
            Expr::MemberOf(m) => {
                self.expr(&m.value);
                self.expr(&m.array);
            }
            _ => self.incomplete = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlparser::dialect::MySqlDialect;
    use sqlparser::parser::Parser;

    use super::*;

    fn walk(sql: &str) -> Walk {
        let stmts = Parser::parse_sql(&MySqlDialect {}, sql).unwrap_or_default();
        let mut w = Walk::default();
        for s in &stmts {
            match s {
                Statement::Query(q) => w.query(q),
                other => w.dml(other),
            }
        }
        w
    }

    fn calls(sql: &str) -> Vec<String> {
        walk(sql).calls.into_iter().map(|c| c.0).collect()
    }

    #[test]
    fn walk_finds_calls_everywhere() {
        let cases: &[(&str, &[&str])] = &[
            ("SELECT f1(a) FROM t", &["F1"]),
            ("SELECT a FROM t WHERE f2(a) = 1", &["F2"]),
            ("SELECT a FROM t GROUP BY f3(a) HAVING f4(a) > 1 ORDER BY f5(a)", &["F3", "F4", "F5"]),
            ("SELECT a FROM t1 JOIN t2 ON f6(t1.a) = t2.a", &["F6"]),
            ("SELECT (SELECT f7(b) FROM u) FROM t", &["F7"]),
            ("SELECT a FROM t WHERE a IN (SELECT f8(b) FROM u)", &["F8"]),
            ("SELECT a FROM t WHERE EXISTS (SELECT f9(b) FROM u)", &["F9"]),
            ("SELECT CASE WHEN f10(a) THEN f11(b) ELSE f12(c) END FROM t", &["F10", "F11", "F12"]),
            ("SELECT CAST(f13(a) AS CHAR), CONVERT(f14(a), CHAR) FROM t", &["F13", "F14"]),
            ("SELECT COUNT(f15(a)) OVER (PARTITION BY f16(b) ORDER BY f17(c)) FROM t", &["COUNT", "F15", "F16", "F17"]),
            ("WITH c AS (SELECT f18(a) AS x FROM t) SELECT x FROM c", &["F18"]),
            ("SELECT a FROM t UNION SELECT f19(a) FROM u", &["F19"]),
            ("SELECT * FROM (SELECT f20(a) FROM t) AS d", &["F20"]),
            ("SELECT a FROM t WHERE a BETWEEN f21(1) AND f22(2)", &["F21", "F22"]),
            ("SELECT a FROM t WHERE a LIKE f23('x')", &["F23"]),
            ("SELECT -f24(a), f25(a) IS NULL FROM t", &["F24", "F25"]),
            ("INSERT INTO t VALUES (f26(1))", &["F26"]),
            ("INSERT INTO t SET a = f27(1)", &["F27"]),
            ("INSERT INTO t VALUES (1) ON DUPLICATE KEY UPDATE a = f28(1)", &["F28"]),
            ("UPDATE t SET a = f29(1) WHERE b = f30(2)", &["F29", "F30"]),
            ("DELETE FROM t WHERE a = f31(1)", &["F31"]),
            ("SELECT db.f32(1)", &["F32"]),
            (
                "SELECT EXTRACT(YEAR FROM f33(a)), SUBSTRING(f34(a) FROM 1 FOR 2), TRIM(f35(a)) FROM t",
                &["F33", "F34", "F35"],
            ),
            ("SELECT GROUP_CONCAT(f36(a) ORDER BY f37(b) SEPARATOR ',') FROM t", &["GROUP_CONCAT", "F36", "F37"]),
        ];
        for (sql, want) in cases {
            let mut got = calls(sql);
            let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            got.sort();
            want.sort();
            assert_eq!(got, want, "calls in {sql:?}");
        }
    }

    #[test]
    fn walk_reports_user_vars_locks_and_into() {
        let w = walk("SELECT @a := 1, @b FROM t WHERE c = @c");
        assert!(w.assigns_user_var && w.reads_user_var);
        let w = walk("SELECT @a := 1");
        assert!(w.assigns_user_var && !w.reads_user_var);
        let w = walk("SELECT `@a` FROM t");
        assert!(!w.reads_user_var);
        assert!(walk("SELECT a FROM t FOR UPDATE").locking);
        assert!(walk("SELECT a INTO @x FROM t").into_user_var);
        assert!(walk("SELECT SQL_CALC_FOUND_ROWS a FROM t").calc_found_rows);
        assert!(walk("WITH c AS (SELECT 1) UPDATE t SET a = 1").writes_rows);
        assert!(!walk("SELECT a FROM t WHERE b = 1").incomplete);
    }

    #[test]
    fn deep_trees_stop_the_walk() {
        let sql = format!("SELECT * FROM t WHERE {}", vec!["a = 1"; 500].join(" AND "));
        let w = walk(&sql);
        assert!(w.incomplete);
        assert_eq!(w.depth, 0);
    }
}
