import CEditLine
import Foundation

/// libedit, for the interactive console: prompt, history, Tab completion, Ctrl-C.
///
/// The only file that imports the C shim.
package final class LineEditor {
    private let editor: OpaquePointer
    private let historyPath: String?
    /// Completions for the text before the cursor.
    package var complete: (String) -> [String] = { _ in [] }

    package init?(program: String, historyPath: String?) {
        // Without a locale libedit drops non-ASCII input.
        if setlocale(LC_ALL, "") == nil { setlocale(LC_ALL, "C.UTF-8") }
        guard let e = sb_editor_new(program) else { return nil }
        editor = e
        self.historyPath = historyPath
        if let historyPath { _ = sb_editor_history_load(editor, historyPath) }
        sb_install_sigint()
        sb_editor_set_completer(editor, { context, line in
            guard let context, let line else { return nil }
            let me = Unmanaged<LineEditor>.fromOpaque(context).takeUnretainedValue()
            let candidates = me.complete(String(cString: line))
            guard !candidates.isEmpty else { return nil }
            return strdup(candidates.joined(separator: "\n"))
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit {
        if let historyPath { _ = sb_editor_history_save(editor, historyPath) }
        sb_editor_free(editor)
    }

    /// The outcome of reading one line.
    package enum Input {
        case line(String)
        case interrupted
        case end
    }

    package func read(prompt: String) -> Input {
        sb_editor_set_prompt(editor, prompt)
        var interrupted: Int32 = 0
        guard let raw = sb_editor_gets(editor, &interrupted) else {
            if interrupted != 0 || Self.takeInterrupt() {
                sb_editor_reset(editor)
                return .interrupted
            }
            return .end
        }
        var line = String(cString: raw)
        if line.hasSuffix("\n") { line.removeLast() }
        return .line(line)
    }

    /// Draws the prompt and what is being typed again (after another thread printed a line).
    package func refresh() { sb_editor_refresh(editor) }

    package func remember(_ line: String) {
        sb_editor_history_add(editor, line)
        if let historyPath { _ = sb_editor_history_save(editor, historyPath) }
    }

    /// Whether Ctrl-C was pressed since the last call.
    package static func takeInterrupt() -> Bool { sb_take_sigint() != 0 }

    /// Installs the flag-only SIGINT handler (for non-interactive use too).
    static func catchInterrupts() { sb_install_sigint() }
}
