/// Text that ends up in a terminal (`longrope status`): a control character there is not text —
/// ESC starts sequences that move the cursor, clear or retitle the terminal, and a line break
/// breaks a table.
func isControlCharacter(_ scalar: Unicode.Scalar) -> Bool { scalar.properties.generalCategory == .control }

/// The longest name someone gives (a worker's, a search's): what `longrope status` shows.
public let maxNameLength = 200

/// Whether a name someone gives (a worker's, a search's) can be shown as it is: no control
/// characters at all.
public func isDisplayableName(_ name: String) -> Bool { !name.unicodeScalars.contains(where: isControlCharacter) }

/// Why `name` cannot be a name someone gives (a worker's, a search's), said of `label` (a JSON
/// field, a CLI option), or nil: at most `maxNameLength` characters, none of them a control
/// character, and not empty unless `mayBeEmpty` (a search without a name).
public func nameProblem(_ name: String, label: String, mayBeEmpty: Bool = false) -> String? {
    if name.count > maxNameLength || (name.isEmpty && !mayBeEmpty) {
        return "\(label) must be \(mayBeEmpty ? "at most" : "1 to") \(maxNameLength) characters"
    }
    if !isDisplayableName(name) { return "\(label) must not hold control characters (line breaks, escapes)" }
    return nil
}

/// `text` with every control character but the line break shown as "?".
public func showingControlCharacters(_ text: String) -> String {
    String(String.UnicodeScalarView(text.unicodeScalars.map { $0 != "\n" && isControlCharacter($0) ? "?" : $0 }))
}
