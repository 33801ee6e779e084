import Foundation
import GRDB
import Search

/// The SQLite database of searches, candidates, evaluations and baselines (GRDB, WAL).
///
/// A search's whole state is rebuilt from these rows: candidates keep their step and ordinal,
/// every scored (candidate, window) unit is one row, and a candidate's outcome is written in
/// the same transaction as its last unit, so a crash at any moment loses at most the unit in
/// progress. NaN is stored explicitly as an `infeasible` status (SQLite turns NaN into NULL).
public final class SearchStore: Sendable {
    /// A WAL pool, or a read-only queue for `readOnly` stores.
    let pool: any DatabaseWriter
    public let path: String

    /// Opens (creating and migrating if needed) the database at `path`. A `readOnly` store
    /// changes nothing in the file, not even its journal mode: for exporting from a shipped
    /// database or one on a read-only disk. Its writes throw.
    public init(path: String, readOnly: Bool = false) throws {
        self.path = path
        var configuration = Configuration()
        configuration.busyMode = .timeout(30)   // needed on Linux
        if readOnly {
            configuration.readonly = true
            pool = try DatabaseQueue(path: path, configuration: configuration)
            // Readable once the columns readers use have their names (v5); later migrations only
            // add tables a running search writes (their readers find them missing and say "none").
            guard try pool.read({ try Self.migrator.completedMigrations($0).contains(Self.lastMigrationReadersNeed) }) else {
                throw StoreError.notASearchDatabase(path)
            }
            return
        }
        configuration.prepareDatabase { db in
            // In WAL mode NORMAL keeps every committed transaction across a process crash
            // (SIGKILL); only a power loss may drop the last ones. It saves an fsync per unit.
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE search (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    name TEXT NOT NULL,
                    config TEXT NOT NULL,
                    model_path TEXT NOT NULL, model_sha256 TEXT NOT NULL,
                    text_path TEXT NOT NULL, text_offset INTEGER NOT NULL, text_sha256 TEXT NOT NULL,
                    seed INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    error TEXT,
                    created_at REAL NOT NULL, updated_at REAL NOT NULL);
                CREATE TABLE candidate (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    search_id INTEGER NOT NULL REFERENCES search(id) ON DELETE CASCADE,
                    ordinal INTEGER NOT NULL,
                    step INTEGER NOT NULL,
                    lambda TEXT NOT NULL,
                    n_hat INTEGER NOT NULL,
                    attention_factor REAL NOT NULL,
                    operation TEXT NOT NULL,
                    seed_name TEXT,
                    parents TEXT NOT NULL,
                    status TEXT NOT NULL,            -- pending, scored, rejected, infeasible
                    perplexity REAL,
                    UNIQUE (search_id, ordinal));
                CREATE INDEX candidate_by_search ON candidate(search_id, step);
                CREATE TABLE evaluation (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    candidate_id INTEGER NOT NULL REFERENCES candidate(id) ON DELETE CASCADE,
                    sample INTEGER NOT NULL,
                    status TEXT NOT NULL,            -- done, infeasible
                    nll_sum REAL,
                    tokens INTEGER NOT NULL,
                    seconds REAL NOT NULL,
                    worker TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    UNIQUE (candidate_id, sample));
                CREATE TABLE baseline (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    search_id INTEGER NOT NULL REFERENCES search(id) ON DELETE CASCADE,
                    method TEXT NOT NULL,
                    lambda TEXT NOT NULL,
                    n_hat INTEGER NOT NULL,
                    attention_factor REAL NOT NULL,
                    status TEXT NOT NULL,            -- scored, infeasible
                    perplexity REAL,
                    sample_nll TEXT NOT NULL,
                    UNIQUE (search_id, method));
                """)
        }
        migrator.registerMigration("v2: rope base, unit errors") { db in
            try db.execute(sql: """
                ALTER TABLE search ADD COLUMN rope_base REAL NOT NULL DEFAULT 10000;
                ALTER TABLE evaluation ADD COLUMN error TEXT;
                """)
        }
        migrator.registerMigration("v3: fitness of baselines, key tokens") { db in
            try db.execute(sql: """
                ALTER TABLE baseline ADD COLUMN fitness REAL;
                ALTER TABLE baseline ADD COLUMN fitness_nll TEXT;
                ALTER TABLE candidate ADD COLUMN critical_pair INTEGER;
                CREATE TABLE key_token (
                    search_id INTEGER NOT NULL REFERENCES search(id) ON DELETE CASCADE,
                    sample INTEGER NOT NULL,
                    positions TEXT NOT NULL,
                    UNIQUE (search_id, sample));
                """)
        }
        migrator.registerMigration("v4: tokens of the baselines' windows") { db in
            try db.execute(sql: """
                ALTER TABLE baseline ADD COLUMN window_tokens TEXT;
                ALTER TABLE baseline ADD COLUMN fitness_tokens TEXT;
                """)
        }
        // One name per idea: a window of the target length was once called a sample.
        migrator.registerMigration("v5: sample is window") { db in
            try db.execute(sql: """
                ALTER TABLE evaluation RENAME COLUMN sample TO window;
                ALTER TABLE key_token RENAME COLUMN sample TO window;
                ALTER TABLE baseline RENAME COLUMN sample_nll TO window_nll;
                """)
        }
        migrator.registerMigration("v6: the rules' units as they come back") { db in
            // A rule's baseline row is written once all its windows are in; its units are kept
            // here as each comes back, so a stop loses none of them (a 32k unit is minutes).
            try db.execute(sql: """
                CREATE TABLE rule_unit (
                    search_id INTEGER NOT NULL REFERENCES search(id) ON DELETE CASCADE,
                    pass TEXT NOT NULL,              -- ppl, or the search's fitness
                    method TEXT NOT NULL,
                    window INTEGER NOT NULL,
                    nll_sum REAL,                    -- NULL: NaN or infinite
                    tokens INTEGER NOT NULL,
                    seconds REAL NOT NULL,
                    worker TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    PRIMARY KEY (search_id, pass, method, window));
                """)
        }
        return migrator
    }

    /// The migration after which a database can be read (`readOnly`): shipped databases were
    /// written at it.
    static let lastMigrationReadersNeed = "v5: sample is window"

    // MARK: Searches

    /// Stores a new search and returns its id.
    public func createSearch(name: String, config: SearchConfig, modelPath: String, modelSHA256: String,
                             textPath: String, textOffset: Int, textSHA256: String, ropeBase: Double = 10_000) throws -> Int64 {
        let now = Date().timeIntervalSince1970
        return try pool.write { db in
            try db.execute(sql: """
                INSERT INTO search (name, config, model_path, model_sha256, text_path, text_offset, text_sha256,
                                    seed, status, created_at, updated_at, rope_base)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)
                """, arguments: [name, try encode(config), modelPath, modelSHA256, textPath, textOffset, textSHA256,
                                 Int64(bitPattern: config.seed), now, now, ropeBase])
            return db.lastInsertedRowID
        }
    }

    public func search(_ id: Int64) throws -> SearchRecord? {
        try pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM search WHERE id = ?", arguments: [id]) }
            .map(searchRecord)
    }

    public func searches() throws -> [SearchRecord] {
        try pool.read { db in try Row.fetchAll(db, sql: "SELECT * FROM search ORDER BY id") }.map(searchRecord)
    }

    public func setStatus(_ id: Int64, _ status: SearchStatus, error: String? = nil) throws {
        try pool.write { db in
            try db.execute(sql: "UPDATE search SET status = ?, error = ?, updated_at = ? WHERE id = ?",
                           arguments: [status.rawValue, error, Date().timeIntervalSince1970, id])
        }
    }

    public func errorMessage(_ id: Int64) throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT error FROM search WHERE id = ?", arguments: [id]) }
    }

    private func searchRecord(_ row: Row) throws -> SearchRecord {
        guard let status = SearchStatus(rawValue: row["status"]) else { throw StoreError.corrupt("search status") }
        return SearchRecord(id: row["id"], name: row["name"], config: try decode(SearchConfig.self, row["config"]),
                            modelPath: row["model_path"], modelSHA256: row["model_sha256"],
                            textPath: row["text_path"], textOffset: row["text_offset"], textSHA256: row["text_sha256"],
                            status: status, createdAt: Date(timeIntervalSince1970: row["created_at"]),
                            ropeBase: row["rope_base"])
    }

    // MARK: Candidates and evaluations

    /// Every candidate of a search (or of one step, or of a range of ordinals), in ordinal order,
    /// with its outcome when known.
    public func candidates(_ searchID: Int64, step: Int? = nil, ordinals: Range<Int>? = nil) throws -> [CandidateRecord] {
        var stepFilter = step == nil ? "" : " AND candidate.step = \(step!)"
        if let ordinals {
            stepFilter += " AND candidate.ordinal >= \(ordinals.lowerBound) AND candidate.ordinal < \(ordinals.upperBound)"
        }
        return try pool.read { db in
            // One query for the candidates and one for all their units.
            var windowNLL: [Int64: [Double?]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT evaluation.candidate_id, evaluation.status, evaluation.nll_sum FROM evaluation
                JOIN candidate ON candidate.id = evaluation.candidate_id
                WHERE candidate.search_id = ?\(stepFilter) ORDER BY evaluation.candidate_id, evaluation.window
                """, arguments: [searchID]) {
                windowNLL[row["candidate_id"], default: []].append((row["status"] as String) == "done" ? row["nll_sum"] : nil)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM candidate WHERE search_id = ?\(stepFilter) ORDER BY ordinal",
                                    arguments: [searchID])
                .map { row in try candidateRecord(row, windowNLL: windowNLL[row["id"]] ?? []) }
        }
    }

    /// Stores candidates of one step in one transaction, numbered from `firstOrdinal` (default:
    /// on from the search's last).
    public func insertCandidates(_ searchID: Int64, step: Int, firstOrdinal: Int? = nil, _ batch: [Candidate]) throws {
        try pool.write { db in
            var ordinal = try firstOrdinal
                ?? Int.fetchOne(db, sql: "SELECT COALESCE(MAX(ordinal) + 1, 0) FROM candidate WHERE search_id = ?",
                                arguments: [searchID]) ?? 0
            let insert = try db.cachedStatement(sql: """
                INSERT INTO candidate (search_id, ordinal, step, lambda, n_hat, attention_factor, operation,
                                       seed_name, parents, status, critical_pair)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?)
                """)
            for candidate in batch {
                try insert.execute(arguments: [searchID, ordinal, step, try encode(candidate.lambda), candidate.nHat,
                                               candidate.attentionFactor, candidate.operation.rawValue, candidate.seedName,
                                               try encode(candidate.parents), candidate.criticalPair])
                ordinal += 1
            }
        }
    }

    /// Records one scored unit and, when `outcome` is given, the candidate's outcome with it.
    /// A unit already recorded is left as it is (a late duplicate is accepted once).
    @discardableResult
    public func recordEvaluation(_ evaluation: EvaluationRecord, outcome: Outcome?) throws -> Bool {
        try pool.write { db in
            // Statements that run for every unit are compiled once per connection.
            let count = try db.cachedStatement(sql: "SELECT COUNT(*) FROM evaluation WHERE candidate_id = ? AND window = ?")
            let existing = try Int.fetchOne(count, arguments: [evaluation.candidateRowID, evaluation.window]) ?? 0
            if existing > 0 { return false }
            try db.cachedStatement(sql: """
                INSERT INTO evaluation (candidate_id, window, status, nll_sum, tokens, seconds, worker, created_at, error)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """).execute(arguments: [evaluation.candidateRowID, evaluation.window,
                                         evaluation.error != nil ? "failed" : evaluation.nllSum == nil ? "infeasible" : "done",
                                         evaluation.nllSum, evaluation.tokens, evaluation.seconds, evaluation.worker,
                                         Date().timeIntervalSince1970, evaluation.error])
            if let outcome { try setOutcome(db, evaluation.candidateRowID, outcome) }
            return true
        }
    }

    /// Replaces a recorded unit's answer with a second opinion's (the worker that first answered
    /// was outvoted), before its candidate is decided.
    public func correctEvaluation(_ evaluation: EvaluationRecord) throws {
        try pool.write { db in
            try db.execute(sql: """
                UPDATE evaluation SET status = ?, nll_sum = ?, tokens = ?, seconds = ?, worker = ?
                WHERE candidate_id = ? AND window = ?
                """, arguments: [evaluation.nllSum == nil ? "infeasible" : "done", evaluation.nllSum, evaluation.tokens,
                                 evaluation.seconds, evaluation.worker, evaluation.candidateRowID, evaluation.window])
        }
    }

    private func setOutcome(_ db: Database, _ candidateID: Int64, _ outcome: Outcome) throws {
        let (status, perplexity): (String, Double?) = switch outcome {
        case let .scored(p, _): ("scored", p)
        case let .rejected(p, _): ("rejected", p)
        case .infeasible: ("infeasible", nil)
        }
        try db.cachedStatement(sql: "UPDATE candidate SET status = ?, perplexity = ? WHERE id = ?")
            .execute(arguments: [status, perplexity, candidateID])
    }

    private func evaluations(_ db: Database, candidate: Int64) throws -> [Double?] {
        try Row.fetchAll(db, sql: "SELECT status, nll_sum FROM evaluation WHERE candidate_id = ? ORDER BY window",
                         arguments: [candidate]).map { row in
            (row["status"] as String) == "done" ? (row["nll_sum"] as Double?) : nil
        }
    }

    private func candidateRecord(_ row: Row, windowNLL: [Double?]) throws -> CandidateRecord {
        guard let operation = Operation(rawValue: row["operation"]) else { throw StoreError.corrupt("candidate operation") }
        let candidate = Candidate(lambda: try decode([Double].self, row["lambda"]), nHat: row["n_hat"],
                                  attentionFactor: row["attention_factor"], criticalPair: row["critical_pair"],
                                  operation: operation, seedName: row["seed_name"],
                                  parents: try decode([Int].self, row["parents"]))
        let nll = windowNLL.compactMap { $0 }
        let outcome: Outcome? = switch row["status"] as String {
        case "scored": .scored(perplexity: row["perplexity"], windowNLL: nll)
        case "rejected": .rejected(partialPerplexity: row["perplexity"], windowNLL: nll)
        case "infeasible": .infeasible
        default: nil
        }
        return CandidateRecord(rowID: row["id"], ordinal: row["ordinal"], step: row["step"], candidate: candidate,
                               attentionFactor: row["attention_factor"], outcome: outcome)
    }

    /// How many candidates have an outcome, and the last step with any candidate.
    public func progress(_ searchID: Int64) throws -> (evaluated: Int, lastStep: Int) {
        try pool.read { db in
            let row = try Row.fetchOne(db, sql: """
                SELECT SUM(status != 'pending') AS evaluated, COALESCE(MAX(step), 0) AS last_step
                FROM candidate WHERE search_id = ?
                """, arguments: [searchID])
            return ((row?["evaluated"] as Int?) ?? 0, (row?["last_step"] as Int?) ?? 0)
        }
    }

    /// The best scored candidate (ties: the earlier one), without loading the others.
    public func bestCandidate(_ searchID: Int64) throws -> CandidateRecord? {
        try pool.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT * FROM candidate WHERE search_id = ? AND status = 'scored'
                ORDER BY perplexity, ordinal LIMIT 1
                """, arguments: [searchID]) else { return nil }
            return try candidateRecord(row, windowNLL: evaluations(db, candidate: row["id"]))
        }
    }

    /// NLL sums already scored for a candidate, by window (nil = infeasible).
    public func windowResults(_ candidateRowID: Int64) throws -> [Double?] {
        try pool.read { db in try evaluations(db, candidate: candidateRowID) }
    }

    /// Tokens scored by each of a candidate's stored units, by window.
    public func windowTokens(_ candidateRowID: Int64) throws -> [Int] {
        try pool.read { db in
            try Int.fetchAll(db, sql: "SELECT tokens FROM evaluation WHERE candidate_id = ? ORDER BY window",
                             arguments: [candidateRowID])
        }
    }

    // MARK: Key tokens

    /// Stores the key-token positions of one window of a search (once; a second call keeps the first).
    public func recordKeyTokens(_ searchID: Int64, window: Int, positions: [Int]) throws {
        try pool.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO key_token (search_id, window, positions) VALUES (?, ?, ?)",
                           arguments: [searchID, window, try encode(positions)])
        }
    }

    /// The key-token positions of a search's windows found so far, by window.
    public func keyTokens(_ searchID: Int64) throws -> [Int: [Int]] {
        try pool.read { db in
            var out: [Int: [Int]] = [:]
            for row in try Row.fetchAll(db, sql: "SELECT window, positions FROM key_token WHERE search_id = ?",
                                        arguments: [searchID]) {
                out[row["window"]] = try decode([Int].self, row["positions"])
            }
            return out
        }
    }

    /// The search's stored candidate units; with `worker`, only those that worker answered
    /// (`UnitResult.reusedWorker`: the ones taken from an identical rule unit, no time spent).
    public func evaluationCount(_ searchID: Int64, worker: String? = nil) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM evaluation JOIN candidate ON candidate.id = evaluation.candidate_id
                WHERE candidate.search_id = ? AND (? IS NULL OR evaluation.worker = ?)
                """, arguments: [searchID, worker, worker]) ?? 0
        }
    }

    /// Worker seconds of the search's stored units (the work whose results were used).
    public func evaluationSeconds(_ searchID: Int64) throws -> Double {
        try pool.read { db in
            try Double.fetchOne(db, sql: """
                SELECT COALESCE(SUM(evaluation.seconds), 0) FROM evaluation
                JOIN candidate ON candidate.id = evaluation.candidate_id WHERE candidate.search_id = ?
                """, arguments: [searchID]) ?? 0
        }
    }

    /// When the search's last `count` stored units arrived, the rules' and the candidates'
    /// (seconds since 1970, oldest first): the pace its workers answer at. Units with a result
    /// that took time only: a failed or infeasible unit, or one answered from an earlier
    /// identical unit (0 seconds), says nothing about the pace.
    public func recentUnitArrivals(_ searchID: Int64, count: Int) throws -> [Double] {
        try pool.read { db in
            let rules = try db.tableExists("rule_unit")
                ? "UNION ALL SELECT created_at FROM rule_unit WHERE search_id = ?1 AND seconds > 0" : ""
            return try Double.fetchAll(db, sql: """
                SELECT created_at FROM (
                    SELECT evaluation.created_at FROM evaluation JOIN candidate ON candidate.id = evaluation.candidate_id
                    WHERE candidate.search_id = ?1 AND evaluation.status = 'done' AND evaluation.seconds > 0
                    \(rules))
                ORDER BY created_at DESC LIMIT ?2
                """, arguments: [searchID, count]).reversed()
        }
    }

    /// Units recorded as failed after their retries, for a search.
    public func failedUnitCount(_ searchID: Int64) throws -> Int {
        try pool.read { db in
            try Int.fetchOne(db, sql: """
                SELECT COUNT(*) FROM evaluation JOIN candidate ON candidate.id = evaluation.candidate_id
                WHERE candidate.search_id = ? AND evaluation.status = 'failed'
                """, arguments: [searchID]) ?? 0
        }
    }

    /// The most frequent reasons units of a search failed for good, with their counts.
    public func failureReasons(_ searchID: Int64, limit: Int = 3) throws -> [(reason: String, count: Int)] {
        try pool.read { db in
            try Row.fetchAll(db, sql: """
                SELECT evaluation.error AS reason, COUNT(*) AS n FROM evaluation
                JOIN candidate ON candidate.id = evaluation.candidate_id
                WHERE candidate.search_id = ? AND evaluation.status = 'failed'
                GROUP BY evaluation.error ORDER BY n DESC, reason LIMIT ?
                """, arguments: [searchID, limit]).map { (($0["reason"] as String?) ?? "?", $0["n"] as Int) }
        }
    }

    // MARK: Baselines

    public func recordBaseline(_ searchID: Int64, _ baseline: BaselineRecord) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO baseline (search_id, method, lambda, n_hat, attention_factor, status, perplexity,
                                                 window_nll, fitness, fitness_nll, window_tokens, fitness_tokens)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [searchID, baseline.method, try encode(baseline.lambda), baseline.nHat,
                                 baseline.attentionFactor, baseline.perplexity == nil ? "infeasible" : "scored",
                                 baseline.perplexity, try encode(baseline.windowNLL), baseline.fitness,
                                 try baseline.fitnessNLL.map { try encode($0) },
                                 try baseline.windowTokens.map { try encode($0) },
                                 try baseline.fitnessTokens.map { try encode($0) }])
        }
    }

    /// Stores one rule unit as it comes back (`pass`: `ppl`, or the search's fitness), before
    /// the rule's baseline row can be written.
    public func recordRuleUnit(_ searchID: Int64, pass: String, _ unit: RuleUnitRecord) throws {
        try pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO rule_unit (search_id, pass, method, window, nll_sum, tokens, seconds, worker, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [searchID, pass, unit.method, unit.window, unit.nllSum.flatMap { $0.isFinite ? $0 : nil },
                                 unit.tokens, unit.seconds, unit.worker, Date().timeIntervalSince1970])
        }
    }

    /// The rule units stored for a pass, oldest first (none in a database written before they
    /// were kept).
    public func ruleUnits(_ searchID: Int64, pass: String) throws -> [RuleUnitRecord] {
        try pool.read { db in
            guard try db.tableExists("rule_unit") else { return [] }
            return try Row.fetchAll(db, sql: """
                SELECT method, window, nll_sum, tokens, seconds, worker FROM rule_unit WHERE search_id = ? AND pass = ?
                ORDER BY created_at, method, window
                """, arguments: [searchID, pass]).map {
                RuleUnitRecord(method: $0["method"], window: $0["window"], nllSum: $0["nll_sum"], tokens: $0["tokens"],
                               seconds: $0["seconds"], worker: $0["worker"])
            }
        }
    }

    public func baselines(_ searchID: Int64) throws -> [BaselineRecord] {
        try pool.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM baseline WHERE search_id = ? ORDER BY id", arguments: [searchID]).map { row in
                BaselineRecord(method: row["method"], lambda: try decode([Double].self, row["lambda"]),
                               nHat: row["n_hat"], attentionFactor: row["attention_factor"],
                               perplexity: row["perplexity"], windowNLL: try decode([Double].self, row["window_nll"]),
                               fitness: row["fitness"],
                               fitnessNLL: try (row["fitness_nll"] as String?).map { try decode([Double].self, $0) },
                               windowTokens: try (row["window_tokens"] as String?).map { try decode([Int].self, $0) },
                               fitnessTokens: try (row["fitness_tokens"] as String?).map { try decode([Int].self, $0) })
            }
        }
    }
}

private func encode<T: Encodable>(_ value: T) throws -> String {
    String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
}

private func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
    do { return try JSONDecoder().decode(type, from: Data(text.utf8)) }
    catch { throw StoreError.corrupt("\(T.self): \(text.prefix(80))") }
}
