#include "CEditLine.h"

#include <errno.h>
#include <histedit.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct sb_editor {
    EditLine *el;
    History *history;
    HistEvent event;
    char *prompt;
    sb_completer completer;
    void *context;
};

/* Set by the handler (on whichever thread takes the signal), taken by the console's reading
   thread: an atomic, not only a volatile sig_atomic_t, since two threads share it (ThreadSanitizer
   reported the race). Lock-free atomic_int is async-signal-safe. */
static atomic_int sigint_seen = 0;

static void on_sigint(int signo) {
    (void)signo;
    atomic_store(&sigint_seen, 1);
}

void sb_install_sigint(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_sigint;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: a blocked read returns EINTR
    sigaction(SIGINT, &action, NULL);
}

int sb_take_sigint(void) {
    return atomic_exchange(&sigint_seen, 0);
}

static char *prompt_of(EditLine *el) {
    sb_editor *editor = NULL;
    el_get(el, EL_CLIENTDATA, &editor);
    return editor && editor->prompt ? editor->prompt : "> ";
}

/// Tab: one candidate completes the word; several complete their common prefix, and a second
/// Tab with nothing to add lists them.
static unsigned char complete(EditLine *el, int ch) {
    (void)ch;
    sb_editor *editor = NULL;
    el_get(el, EL_CLIENTDATA, &editor);
    if (!editor || !editor->completer) return CC_ERROR;
    const LineInfo *info = el_line(el);
    size_t before = (size_t)(info->cursor - info->buffer);
    char *line = malloc(before + 1);
    if (!line) return CC_ERROR;
    memcpy(line, info->buffer, before);
    line[before] = 0;
    const char *word = line + before;
    while (word > line && word[-1] != ' ' && word[-1] != '\t') word--;
    size_t typed = strlen(word);
    char *list = editor->completer(editor->context, line);
    if (!list || !*list) { free(line); free(list); return CC_REFRESH_BEEP; }

    size_t count = 0, common = (size_t)-1;
    const char *first = list;
    for (const char *p = list; *p;) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (common == (size_t)-1) common = len;
        else {
            size_t i = 0;
            while (i < common && i < len && first[i] == p[i]) i++;
            common = i;
        }
        count++;
        p = end ? end + 1 : p + len;
    }
    unsigned char result = CC_REFRESH;
    if (common > typed) {
        char *add = strndup(first + typed, common - typed);
        el_insertstr(el, add);
        free(add);
        if (count == 1) el_insertstr(el, " ");
    } else if (count == 1) {
        el_insertstr(el, " ");
    } else {
        FILE *out = NULL;
        el_get(el, EL_GETFP, 1, &out);
        if (!out) out = stdout;
        fputc('\n', out);
        for (const char *p = list; *p;) {
            const char *end = strchr(p, '\n');
            size_t len = end ? (size_t)(end - p) : strlen(p);
            fprintf(out, "%.*s  ", (int)len, p);
            p = end ? end + 1 : p + len;
        }
        fputc('\n', out);
        result = CC_REDISPLAY;
    }
    free(list);
    free(line);
    return result;
}

sb_editor *sb_editor_new(const char *program) {
    sb_editor *editor = calloc(1, sizeof *editor);
    if (!editor) return NULL;
    editor->el = el_init(program, stdin, stdout, stderr);
    if (!editor->el) { free(editor); return NULL; }
    editor->history = history_init();
    history(editor->history, &editor->event, H_SETSIZE, 1000);
    history(editor->history, &editor->event, H_SETUNIQUE, 1);
    el_set(editor->el, EL_CLIENTDATA, editor);
    el_set(editor->el, EL_EDITOR, "emacs");
    el_set(editor->el, EL_PROMPT, prompt_of);
    el_set(editor->el, EL_HIST, history, editor->history);
    el_set(editor->el, EL_ADDFN, "sb-complete", "complete a command or name", complete);
    el_set(editor->el, EL_BIND, "^I", "sb-complete", NULL);
    el_source(editor->el, NULL);  // the user's ~/.editrc, if any
    return editor;
}

void sb_editor_free(sb_editor *editor) {
    if (!editor) return;
    el_end(editor->el);
    history_end(editor->history);
    free(editor->prompt);
    free(editor);
}

void sb_editor_set_prompt(sb_editor *editor, const char *prompt) {
    free(editor->prompt);
    editor->prompt = strdup(prompt);
}

void sb_editor_set_completer(sb_editor *editor, sb_completer completer, void *context) {
    editor->completer = completer;
    editor->context = context;
}

const char *sb_editor_gets(sb_editor *editor, int *interrupted) {
    int count = 0;
    errno = 0;
    const char *line = el_gets(editor->el, &count);
    *interrupted = (line == NULL && (errno == EINTR || atomic_load(&sigint_seen))) ? 1 : 0;
    if (count <= 0) return NULL;
    return line;
}

void sb_editor_reset(sb_editor *editor) {
    el_reset(editor->el);
}

void sb_editor_history_add(sb_editor *editor, const char *line) {
    history(editor->history, &editor->event, H_ENTER, line);
}

int sb_editor_history_load(sb_editor *editor, const char *path) {
    return history(editor->history, &editor->event, H_LOAD, path);
}

int sb_editor_history_save(sb_editor *editor, const char *path) {
    return history(editor->history, &editor->event, H_SAVE, path);
}

void sb_editor_refresh(sb_editor *editor) {
    el_set(editor->el, EL_REFRESH);
}
