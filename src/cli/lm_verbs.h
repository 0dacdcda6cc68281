/* lm_verbs.h — verbs of `quarry lm` implemented outside cmd_lm.c. */
#ifndef QUARRY_CLI_LM_VERBS_H
#define QUARRY_CLI_LM_VERBS_H

int qy_lm_cmd_forward(int argc, char **argv);
int qy_lm_cmd_embed(int argc, char **argv);

#endif
