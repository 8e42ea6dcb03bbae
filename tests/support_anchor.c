/* Keeps the support libraries non-empty before their first source lands. */
int kmswatch_support_anchor;
