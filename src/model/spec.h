/* spec.h — the tensors each transformer family expects, under Hugging Face names
 * (public API in quarry/model.h: qy_lm_spec_*).
 *
 * The list is in the order of PyTorch's named_parameters() for the
 * transformers model class, so gradients and optimizer states can be laid out
 * and compared parameter by parameter. Shapes are as stored in safetensors:
 * nn.Linear weights are (out, in); GPT-2's Conv1D weights are (in, out). */
#ifndef QY_MODEL_SPEC_H
#define QY_MODEL_SPEC_H

#include "quarry/base.h"
#include "quarry/model.h"

#endif
