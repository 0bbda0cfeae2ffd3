// A small, non-variadic face for libedit (el_set, el_get and history are variadic, which
// Swift cannot call). The console's line editor is the only user.
#ifndef CEDITLINE_H
#define CEDITLINE_H

#include <stdio.h>

typedef struct sb_editor sb_editor;

/// Returns the completions for `line` (the text before the cursor), newline-separated, in a
/// buffer the callee allocates with malloc (the editor frees it); NULL for none.
typedef char *(*sb_completer)(void *context, const char *line);

sb_editor *sb_editor_new(const char *program);
void sb_editor_free(sb_editor *editor);
void sb_editor_set_prompt(sb_editor *editor, const char *prompt);
void sb_editor_set_completer(sb_editor *editor, sb_completer completer, void *context);
/// The next line (with its newline) or NULL at end of input or on an interrupted read
/// (then *interrupted is 1).
const char *sb_editor_gets(sb_editor *editor, int *interrupted);
void sb_editor_reset(sb_editor *editor);
/// Draws the prompt and the line being typed again on a new terminal line (after output that
/// another thread printed over them).
void sb_editor_refresh(sb_editor *editor);
void sb_editor_history_add(sb_editor *editor, const char *line);
int sb_editor_history_load(sb_editor *editor, const char *path);
int sb_editor_history_save(sb_editor *editor, const char *path);
/// Installs a SIGINT handler that only sets a flag (no SA_RESTART, so reads return).
void sb_install_sigint(void);
/// Whether SIGINT arrived since the last call (and clears it).
int sb_take_sigint(void);

#endif
