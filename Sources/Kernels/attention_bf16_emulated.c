// lr_attention_bf16_emulated: BF16 attention on any CPU (the instruction's operations in FMAs),
// at the build's baseline level.
#define LR_BF16_NATIVE 0
#define LR_BF16_LEVEL(name) name##_emulated
#include "attention_bf16_body.h"
