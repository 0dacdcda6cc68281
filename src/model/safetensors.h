/* safetensors.h — reading and writing the safetensors format (the public API is in
 * quarry/model.h; this header only gathers it for the model layer).
 *
 * Format (huggingface/safetensors): 8-byte little-endian header length N, then N
 * bytes of UTF-8 JSON {"__metadata__": {str: str}, NAME: {"dtype": "F32",
 * "shape": [..], "data_offsets": [begin, end]}, ...}, then the data region;
 * offsets are relative to the data region and the tensors tile it exactly. */
#ifndef QY_MODEL_SAFETENSORS_H
#define QY_MODEL_SAFETENSORS_H

#include "quarry/base.h"
#include "quarry/model.h"

#endif
