// Each verifier rule of the tessera dialect rejects a bad op with its message.
// RUN: %tessera_opt %s --split-input-file --verify-diagnostics

func.func @policy_field(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{unknown policy field 'rounding'}}
  %0 = tessera.exp %a {policy = #tessera.policy<rounding = f32>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @policy_twice(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{policy field 'saturate' given twice}}
  %0 = tessera.exp %a {policy = #tessera.policy<saturate, saturate>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @policy_loss_scale(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{policy loss_scale must be positive, found 0}}
  %0 = tessera.exp %a {policy = #tessera.policy<loss_scale = 0.0>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @policy_accum(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{policy accumulation type must be an integer or float type, found 'index'}}
  %0 = tessera.exp %a {policy = #tessera.policy<accum = index>} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @policy_device(%a: tensor<4xf32>) -> tensor<4xf32> {
  // expected-error @+1 {{policy device must not be empty}}
  %0 = tessera.exp %a {policy = #tessera.policy<device = "">} : tensor<4xf32>
  return %0 : tensor<4xf32>
}

// -----

func.func @binary_element_types(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{'tessera.add' op operand element types differ: 'f32' and 'f16'}}
  %0 = tessera.add %a, %b : (tensor<4xf32>, tensor<4xf16>) -> tensor<4xf32>
  return
}

// -----

func.func @binary_result_element(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.mul' op result element type must be 'f32', found 'f64'}}
  %0 = tessera.mul %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf64>
  return
}

// -----

func.func @binary_i1(%a: tensor<4xi1>) {
  // expected-error @+1 {{'tessera.sub' op does not apply to i1 operands}}
  %0 = tessera.sub %a, %a : (tensor<4xi1>, tensor<4xi1>) -> tensor<4xi1>
  return
}

// -----

func.func @binary_not_broadcastable(%a: tensor<4x8xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{'tessera.add' op operand shapes 4x8, 3 are not broadcastable}}
  %0 = tessera.add %a, %b : (tensor<4x8xf32>, tensor<3xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @binary_result_shape(%a: tensor<4x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'tessera.div' op result shape 4x9 differs from the broadcast shape 4x8 of the operands}}
  %0 = tessera.div %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x9xf32>
  return
}

// -----

func.func @binary_result_rank(%a: tensor<4x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'tessera.pow' op result rank 1 differs from the broadcast rank 2 of the operands}}
  %0 = tessera.pow %a, %b : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @cmp_result(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.cmp' op result element type must be 'i1', found 'f32'}}
  %0 = tessera.cmp eq, %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @cmp_predicate(%a: tensor<4xf32>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'predicate' [eq, ne, lt, le, gt, ge]}}
  %0 = tessera.cmp less, %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xi1>
  return
}

// -----

func.func @logical_float(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.and' op operands must have a signless integer element type, found 'f32'}}
  %0 = tessera.and %a, %a : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @unary_float_only(%a: tensor<4xi32>) {
  // expected-error @+1 {{'tessera.exp' op operand #0 must be ranked tensor of floating-point values}}
  %0 = tessera.exp %a : tensor<4xi32>
  return
}

// -----

// The internal erf (gelu's gradient) is float-only too.
func.func @erf_float_only(%a: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.erf' op operand #0 must be ranked tensor of floating-point values}}
  %0 = tessera.erf %a : tensor<4xi64>
  return
}

// -----

func.func @not_bool(%a: tensor<4xi32>) {
  // expected-error @+1 {{'tessera.not' op operand #0 must be ranked tensor of 1-bit signless integer values}}
  %0 = tessera.not %a : tensor<4xi32>
  return
}

// -----

func.func @cast_shape(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.cast' op result shape 5 differs from the input shape 4}}
  %0 = tessera.cast %a : tensor<4xf32> -> tensor<5xbf16>
  return
}

// -----

func.func @where_types(%c: tensor<4xi1>, %a: tensor<4xf32>, %b: tensor<4xf64>) {
  // expected-error @+1 {{'tessera.where' op operand element types differ: 'f32' and 'f64'}}
  %0 = tessera.where %c, %a, %b : (tensor<4xi1>, tensor<4xf32>, tensor<4xf64>) -> tensor<4xf32>
  return
}

// -----

func.func @where_broadcast(%c: tensor<3xi1>, %a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.where' op operand shapes 3, 4 are not broadcastable}}
  %0 = tessera.where %c, %a, %a : (tensor<3xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @clamp_no_bound(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.clamp' op needs a min or a max bound}}
  %0 = tessera.clamp %a : tensor<4xf32>
  return
}

// -----

func.func @clamp_order(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.clamp' op min 2.000000e+00 is greater than max 1.000000e+00}}
  %0 = tessera.clamp %a {min = 2.0, max = 1.0} : tensor<4xf32>
  return
}

// -----

func.func @reduce_axis_range(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.reduce' op axes entry 2 is out of range for rank 2}}
  %0 = tessera.reduce sum %a axes = [2] : tensor<4x8xf32> -> tensor<4xf32>
  return
}

// -----

func.func @reduce_axes_sorted(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.reduce' op axes must be sorted and unique}}
  %0 = tessera.reduce sum %a axes = [1, 0] : tensor<4x8xf32> -> tensor<f32>
  return
}

// -----

func.func @reduce_shape(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.reduce' op result shape 4 differs from the expected 4x1}}
  %0 = tessera.reduce max %a axes = [1] keepdim : tensor<4x8xf32> -> tensor<4xf32>
  return
}

// -----

func.func @reduce_argmax_type(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.reduce' op result element type must be 'i64', found 'f32'}}
  %0 = tessera.reduce argmax %a axes = [1] : tensor<4x8xf32> -> tensor<4xf32>
  return
}

// -----

func.func @reduce_argmax_axes(%a: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'tessera.reduce' op argmax reduces one axis or all axes, found 2 of 3}}
  %0 = tessera.reduce argmax %a axes = [0, 1] : tensor<2x4x8xf32> -> tensor<8xi64>
  return
}

// -----

func.func @reduce_mean_int(%a: tensor<4xi32>) {
  // expected-error @+1 {{'tessera.reduce' op mean needs a float element type, found 'i32'}}
  %0 = tessera.reduce mean %a axes = [0] : tensor<4xi32> -> tensor<i32>
  return
}

// -----

func.func @reduce_safe(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.reduce' op 'safe' applies to logsumexp only, not sum}}
  %0 = tessera.reduce sum %a axes = [0] safe : tensor<4xf32> -> tensor<f32>
  return
}

// -----

func.func @reduce_kind(%a: tensor<4xf32>) {
  // expected-error @+1 {{expected string or keyword containing one of the following enum values for attribute 'kind' [sum, mean, var, std, max, min, prod, logsumexp, argmax, argmin]}}
  %0 = tessera.reduce median %a axes = [0] : tensor<4xf32> -> tensor<f32>
  return
}

// -----

func.func @norm_rank(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.norm' op result must be rank 0, found 'tensor<1xf32>'}}
  %0 = tessera.norm %a : tensor<4xf32> -> tensor<1xf32>
  return
}

// -----

func.func @has_nan_result(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.has_nan' op result #0 must be 0D tensor of 1-bit signless integer values}}
  %0 = tessera.has_nan %a : tensor<4xf32> -> tensor<4xi1>
  return
}

// -----

func.func @matmul_inner(%a: tensor<4x8xf32>, %b: tensor<7x16xf32>) {
  // expected-error @+1 {{'tessera.matmul' op inner dimensions differ: 8 ('tensor<4x8xf32>') and 7 ('tensor<7x16xf32>')}}
  %0 = tessera.matmul %a, %b : (tensor<4x8xf32>, tensor<7x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<2x4x8xf32>, %b: tensor<3x8x16xf32>) {
  // expected-error @+1 {{'tessera.matmul' op batch dimensions of 'tensor<2x4x8xf32>' and 'tensor<3x8x16xf32>' are not broadcastable}}
  %0 = tessera.matmul %a, %b : (tensor<2x4x8xf32>, tensor<3x8x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @matmul_result(%a: tensor<8xf32>, %b: tensor<8x16xf32>) {
  // expected-error @+1 {{'tessera.matmul' op result shape 1x16 differs from the expected 16}}
  %0 = tessera.matmul %a, %b : (tensor<8xf32>, tensor<8x16xf32>) -> tensor<1x16xf32>
  return
}

// -----

func.func @matmul_rank0(%a: tensor<f32>, %b: tensor<8x16xf32>) {
  // expected-error @+1 {{'tessera.matmul' op operands must have rank 1 or more}}
  %0 = tessera.matmul %a, %b : (tensor<f32>, tensor<8x16xf32>) -> tensor<16xf32>
  return
}

// -----

func.func @matmul_types(%a: tensor<4x8xbf16>, %b: tensor<8x16xf32>) {
  // expected-error @+1 {{'tessera.matmul' op operand element types differ: 'bf16' and 'f32'}}
  %0 = tessera.matmul %a, %b : (tensor<4x8xbf16>, tensor<8x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @transpose_perm(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.transpose' op perm must be a permutation of [0, 2)}}
  %0 = tessera.transpose %a [1, 1] : tensor<4x8xf32> -> tensor<8x8xf32>
  return
}

// -----

func.func @transpose_size(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.transpose' op permutation has 3 entries for rank 2}}
  %0 = tessera.transpose %a [1, 0, 2] : tensor<4x8xf32> -> tensor<8x4xf32>
  return
}

// -----

func.func @transpose_result(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.transpose' op result shape 4x8 differs from the expected 8x4}}
  %0 = tessera.transpose %a [1, 0] : tensor<4x8xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @reshape_numel(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.reshape' op cannot reshape 4x8 (32 elements) to 3x8 (24 elements)}}
  %0 = tessera.reshape %a : tensor<4x8xf32> -> tensor<3x8xf32>
  return
}

// -----

func.func @reshape_dims(%a: tensor<?x8xf32>, %n: index) {
  // expected-error @+1 {{'tessera.reshape' op needs one index operand per dynamic result dimension: 1 expected, 2 given}}
  %0 = tessera.reshape %a [%n, %n] : tensor<?x8xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @reshape_element(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.reshape' op result element type must be 'f32', found 'f16'}}
  %0 = tessera.reshape %a : tensor<4xf32> -> tensor<2x2xf16>
  return
}

// -----

func.func @broadcast_dim(%a: tensor<3x8xf32>) {
  // expected-error @+1 {{'tessera.broadcast_to' op cannot broadcast 3x8 to 4x8: dimension 0 is 3, not 1 or 4}}
  %0 = tessera.broadcast_to %a : tensor<3x8xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @broadcast_rank(%a: tensor<3x8xf32>) {
  // expected-error @+1 {{'tessera.broadcast_to' op cannot broadcast rank 2 to the smaller rank 1}}
  %0 = tessera.broadcast_to %a : tensor<3x8xf32> -> tensor<8xf32>
  return
}

// -----

func.func @broadcast_sizes(%a: tensor<1x8xf32>) {
  // expected-error @+1 {{'tessera.broadcast_to' op needs one index operand per dynamic result dimension: 1 expected, 0 given}}
  %0 = tessera.broadcast_to %a : tensor<1x8xf32> -> tensor<?x8xf32>
  return
}

// -----

func.func @unsqueeze_axis(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.unsqueeze' op axis 3 is out of range for inserting into rank 2}}
  %0 = tessera.unsqueeze %a axis = 3 : tensor<4x8xf32> -> tensor<4x8x1xf32>
  return
}

// -----

func.func @unsqueeze_result(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.unsqueeze' op result shape 1x4x8 differs from the expected 4x1x8}}
  %0 = tessera.unsqueeze %a axis = 1 : tensor<4x8xf32> -> tensor<1x4x8xf32>
  return
}

// -----

func.func @squeeze_size(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.squeeze' op cannot squeeze dimension 1 of size 8}}
  %0 = tessera.squeeze %a axes = [1] : tensor<4x8xf32> -> tensor<4xf32>
  return
}

// -----

func.func @concat_axis(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.concat' op axis 2 is out of range for rank 2}}
  %0 = tessera.concat %a, %a axis = 2 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @concat_other_dim(%a: tensor<4x8xf32>, %b: tensor<4x7xf32>) {
  // expected-error @+1 {{'tessera.concat' op operand shapes 4x8 and 4x7 differ at dimension 1, which is not the concatenation axis}}
  %0 = tessera.concat %a, %b axis = 0 : (tensor<4x8xf32>, tensor<4x7xf32>) -> tensor<8x8xf32>
  return
}

// -----

func.func @concat_sum(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.concat' op result shape 9x8 differs from the expected 8x8}}
  %0 = tessera.concat %a, %a axis = 0 : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<9x8xf32>
  return
}

// -----

func.func @concat_rank(%a: tensor<4x8xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'tessera.concat' op operands must have one rank}}
  %0 = tessera.concat %a, %b axis = 0 : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<5x8xf32>
  return
}

// -----

func.func @concat_empty() {
  // expected-error @+1 {{'tessera.concat' op needs at least one operand}}
  %0 = "tessera.concat"() {axis = 0 : i64} : () -> tensor<4xf32>
  return
}

// -----

func.func @stack_types(%a: tensor<4xf32>, %b: tensor<5xf32>) {
  // expected-error @+1 {{'tessera.stack' op operands must have one type: 'tensor<4xf32>' and 'tensor<5xf32>'}}
  %0 = tessera.stack %a, %b axis = 0 : (tensor<4xf32>, tensor<5xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @stack_result(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.stack' op result shape 4x2 differs from the expected 2x4}}
  %0 = tessera.stack %a, %a axis = 0 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @split_equal(%a: tensor<4x7xf32>) {
  // expected-error @+1 {{'tessera.split' op dimension 1 of size 7 does not split into 2 equal parts}}
  %0:2 = tessera.split %a axis = 1 : tensor<4x7xf32> -> tensor<4x3xf32>, tensor<4x4xf32>
  return
}

// -----

func.func @split_sizes_sum(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.split' op sizes add up to 7 but dimension 1 is 8}}
  %0:2 = tessera.split %a axis = 1 sizes = [3, 4] : tensor<4x8xf32> -> tensor<4x3xf32>, tensor<4x4xf32>
  return
}

// -----

func.func @split_sizes_count(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.split' op has 2 results but 3 sizes}}
  %0:2 = tessera.split %a axis = 1 sizes = [2, 2, 4] : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x6xf32>
  return
}

// -----

func.func @split_result(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.split' op result shape 4x3 differs from the expected 4x2}}
  %0:2 = tessera.split %a axis = 1 sizes = [2, 6] : tensor<4x8xf32> -> tensor<4x3xf32>, tensor<4x6xf32>
  return
}

// -----

func.func @slice_rank(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.slice' op offsets has 1 entries for rank 2}}
  %0 = tessera.slice %a[0] [4, 8] [1, 1] : tensor<4x8xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @slice_bounds(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.slice' op slice of dimension 1 (offset 4, size 5, stride 1) is out of bounds for size 8}}
  %0 = tessera.slice %a[0, 4] [4, 5] [1, 1] : tensor<4x8xf32> -> tensor<4x5xf32>
  return
}

// -----

func.func @slice_stride(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.slice' op stride of dimension 0 is 0}}
  %0 = tessera.slice %a[0, 0] [4, 8] [0, 1] : tensor<4x8xf32> -> tensor<4x8xf32>
  return
}

// -----

func.func @slice_negative_offset(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.slice' op offset -1 is negative}}
  %0 = tessera.slice %a[-1, 0] [1, 8] [1, 1] : tensor<4x8xf32> -> tensor<1x8xf32>
  return
}

// -----

func.func @slice_drop(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.slice' op dropped dimension 1 must have size 1}}
  %0 = tessera.slice %a[0, 0] [4, 2] [1, 1] drop = [1] : tensor<4x8xf32> -> tensor<4xf32>
  return
}

// -----

func.func @slice_result(%a: tensor<4x8xf32>, %i: index) {
  // expected-error @+1 {{'tessera.slice' op result shape 4x2 differs from the expected 4x1}}
  %0 = tessera.slice %a[0, %i] [4, 1] [1, 1] : tensor<4x8xf32> -> tensor<4x2xf32>
  return
}

// -----

func.func @slice_dynamic_count(%a: tensor<4x8xf32>, %i: index) {
  // expected-error @+1 {{'tessera.slice' op offsets has 1 dynamic entries but 0 index operands}}
  %0 = "tessera.slice"(%a) {static_offsets = array<i64: 0, -9223372036854775808>, static_sizes = array<i64: 4, 1>, static_strides = array<i64: 1, 1>, operandSegmentSizes = array<i32: 1, 0, 0, 0>} : (tensor<4x8xf32>) -> tensor<4x1xf32>
  return
}

// -----

func.func @dim_axis(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.dim' op axis 2 is out of range for rank 2}}
  %0 = tessera.dim %a, 2 : tensor<4x8xf32>
  return
}

// -----

func.func @softmax_axis(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.softmax' op axis -1 is out of range for rank 2}}
  %0 = tessera.softmax %a axis = -1 : tensor<4x8xf32>
  return
}

// -----

func.func @log_softmax_axis(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.log_softmax' op axis 2 is out of range for rank 2}}
  %0 = tessera.log_softmax %a axis = 2 : tensor<4x8xf32>
  return
}

// -----

func.func @layer_norm_weight(%x: tensor<2x4x8xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.layer_norm' op weight shape 4x8 differs from the expected 8}}
  %0 = tessera.layer_norm %x weight %w axis = 2 eps = 1.0e-05 : (tensor<2x4x8xf32>, tensor<4x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @layer_norm_bias_type(%x: tensor<2x4x8xf32>, %b: tensor<4x8xf16>) {
  // expected-error @+1 {{'tessera.layer_norm' op bias element type must be 'f32', found 'f16'}}
  %0 = tessera.layer_norm %x bias %b axis = 1 eps = 1.0e-05 : (tensor<2x4x8xf32>, tensor<4x8xf16>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @layer_norm_axis(%x: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'tessera.layer_norm' op axis -1 is out of range for rank 3}}
  %0 = tessera.layer_norm %x axis = -1 eps = 1.0e-05 : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @layer_norm_eps(%x: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'tessera.layer_norm' op eps must be non-negative}}
  %0 = tessera.layer_norm %x axis = 2 eps = -1.0 : (tensor<2x4x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @layer_norm_result(%x: tensor<2x4x8xf32>) {
  // expected-error @+1 {{'tessera.layer_norm' op result shape 2x4x9 differs from the input shape 2x4x8}}
  %0 = tessera.layer_norm %x axis = 2 eps = 1.0e-05 : (tensor<2x4x8xf32>) -> tensor<2x4x9xf32>
  return
}

// -----

func.func @rms_norm_weight(%x: tensor<4x8xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.rms_norm' op weight shape 4 differs from the expected 8}}
  %0 = tessera.rms_norm %x weight %w eps = 1.0e-06 : (tensor<4x8xf32>, tensor<4xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @rms_norm_rank(%x: tensor<f32>) {
  // expected-error @+1 {{'tessera.rms_norm' op input must have rank 1 or more}}
  %0 = tessera.rms_norm %x eps = 1.0e-06 : (tensor<f32>) -> tensor<f32>
  return
}

// -----

func.func @group_norm_groups(%x: tensor<1x6x4x4xf32>) {
  // expected-error @+1 {{'tessera.group_norm' op 6 channels do not split into 4 groups}}
  %0 = tessera.group_norm %x groups = 4 eps = 1.0e-05 : (tensor<1x6x4x4xf32>) -> tensor<1x6x4x4xf32>
  return
}

// -----

func.func @group_norm_positive(%x: tensor<1x6x4x4xf32>) {
  // expected-error @+1 {{'tessera.group_norm' op groups must be positive, found 0}}
  %0 = tessera.group_norm %x groups = 0 eps = 1.0e-05 : (tensor<1x6x4x4xf32>) -> tensor<1x6x4x4xf32>
  return
}

// -----

func.func @group_norm_rank(%x: tensor<6xf32>) {
  // expected-error @+1 {{'tessera.group_norm' op input must be [N, C, ...], found rank 1}}
  %0 = tessera.group_norm %x groups = 2 eps = 1.0e-05 : (tensor<6xf32>) -> tensor<6xf32>
  return
}

// -----

func.func @group_norm_weight(%x: tensor<1x6x4x4xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.group_norm' op weight shape 4 differs from the expected 6}}
  %0 = tessera.group_norm %x weight %w groups = 2 eps = 1.0e-05 : (tensor<1x6x4x4xf32>, tensor<4xf32>) -> tensor<1x6x4x4xf32>
  return
}

// -----

func.func @dropout_p(%x: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.dropout' op p must be in [0, 1), found 1}}
  %0 = tessera.dropout %x p = 1.0 seed = 0 : tensor<4xf32>
  return
}

// -----

func.func @linear_features(%x: tensor<4x8xf32>, %w: tensor<7x16xf32>) {
  // expected-error @+1 {{'tessera.linear' op input has 8 features but weight expects 7}}
  %0 = tessera.linear %x, %w : (tensor<4x8xf32>, tensor<7x16xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<4x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'tessera.linear' op weight must be [K, N], found 'tensor<8xf32>'}}
  %0 = tessera.linear %x, %w : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>, %b: tensor<8xf32>) {
  // expected-error @+1 {{'tessera.linear' op bias shape 8 differs from the expected 16}}
  %0 = tessera.linear %x, %w, %b : (tensor<4x8xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<4x16xf32>
  return
}

// -----

func.func @linear_result(%x: tensor<4x8xf32>, %w: tensor<8x16xf32>) {
  // expected-error @+1 {{'tessera.linear' op result shape 4x8 differs from the expected 4x16}}
  %0 = tessera.linear %x, %w : (tensor<4x8xf32>, tensor<8x16xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @embedding_table(%t: tensor<100xf32>, %ids: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.embedding' op table must be [V, D], found 'tensor<100xf32>'}}
  %0 = tessera.embedding %t, %ids : (tensor<100xf32>, tensor<4xi64>) -> tensor<4xf32>
  return
}

// -----

func.func @embedding_ids(%t: tensor<100x8xf32>, %ids: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.embedding' op operand #1 must be ranked tensor of signless integer values}}
  %0 = tessera.embedding %t, %ids : (tensor<100x8xf32>, tensor<4xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @embedding_result(%t: tensor<100x8xf32>, %ids: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.embedding' op result shape 4x100 differs from the expected 4x8}}
  %0 = tessera.embedding %t, %ids : (tensor<100x8xf32>, tensor<4xi64>) -> tensor<4x100xf32>
  return
}

// -----

func.func @one_hot_classes(%ids: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.one_hot' op result shape 4x9 differs from the expected 4x10}}
  %0 = tessera.one_hot %ids num_classes = 10 : tensor<4xi64> -> tensor<4x9xf32>
  return
}

// -----

func.func @one_hot_positive(%ids: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.one_hot' op num_classes must be positive, found 0}}
  %0 = tessera.one_hot %ids num_classes = 0 : tensor<4xi64> -> tensor<4x0xf32>
  return
}

// -----

func.func @cross_entropy_labels(%l: tensor<4x10xf32>, %y: tensor<5xi64>) {
  // expected-error @+1 {{'tessera.cross_entropy' op labels shape 5 must be the logits shape 4x10 without its class dimension}}
  %0 = tessera.cross_entropy %l, %y : (tensor<4x10xf32>, tensor<5xi64>) -> tensor<f32>
  return
}

// -----

func.func @cross_entropy_result(%l: tensor<4x10xf32>, %y: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.cross_entropy' op result must be rank 0, found 'tensor<4xf32>'}}
  %0 = tessera.cross_entropy %l, %y : (tensor<4x10xf32>, tensor<4xi64>) -> tensor<4xf32>
  return
}

// -----

func.func @attention_head(%q: tensor<2x4x8xf32>, %k: tensor<2x4x16xf32>) {
  // expected-error @+1 {{'tessera.attention' op query and key head dimensions differ: 8 and 16}}
  %0 = tessera.attention %q, %k, %k : (tensor<2x4x8xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x4x16xf32>
  return
}

// -----

func.func @attention_seq(%q: tensor<2x4x8xf32>, %k: tensor<2x6x8xf32>, %v: tensor<2x5x8xf32>) {
  // expected-error @+1 {{'tessera.attention' op key and value sequence lengths differ: 6 and 5}}
  %0 = tessera.attention %q, %k, %v : (tensor<2x4x8xf32>, tensor<2x6x8xf32>, tensor<2x5x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x4x8xf32>, %k: tensor<3x4x8xf32>) {
  // expected-error @+1 {{'tessera.attention' op batch dimension 0 differs between query, key and value}}
  %0 = tessera.attention %q, %k, %k : (tensor<2x4x8xf32>, tensor<3x4x8xf32>, tensor<3x4x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @attention_rank(%q: tensor<8xf32>) {
  // expected-error @+1 {{'tessera.attention' op query, key and value must have one rank of 2 or more}}
  %0 = tessera.attention %q, %q, %q : (tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<8xf32>
  return
}

// -----

func.func @attention_scale(%q: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.attention' op scale must be positive}}
  %0 = tessera.attention %q, %q, %q scale = 0.0 : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @attention_result(%q: tensor<4x8xf32>, %v: tensor<4x16xf32>) {
  // expected-error @+1 {{'tessera.attention' op result shape 4x8 differs from the expected 4x16}}
  %0 = tessera.attention %q, %q, %v : (tensor<4x8xf32>, tensor<4x8xf32>, tensor<4x16xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @conv_output(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'tessera.conv2d' op result shape 1x4x8x8 differs from the expected 1x4x6x6}}
  %0 = tessera.conv2d %x, %w stride = [1, 1] padding = [0, 0] dilation = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x8x8xf32>
  return
}

// -----

func.func @conv_channels(%x: tensor<1x3x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  // expected-error @+1 {{'tessera.conv2d' op input has 3 channels but weight expects 2 x 1 groups}}
  %0 = tessera.conv2d %x, %w stride = [1, 1] padding = [0, 0] dilation = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_groups(%x: tensor<1x4x8x8xf32>, %w: tensor<3x2x3x3xf32>) {
  // expected-error @+1 {{'tessera.conv2d' op 3 output channels do not split into 2 groups}}
  %0 = tessera.conv2d %x, %w stride = [1, 1] padding = [0, 0] dilation = [1, 1] groups = 2 : (tensor<1x4x8x8xf32>, tensor<3x2x3x3xf32>) -> tensor<1x3x6x6xf32>
  return
}

// -----

func.func @conv_stride(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'tessera.conv2d' op stride entries must be >= 1, found 0}}
  %0 = tessera.conv2d %x, %w stride = [0, 1] padding = [0, 0] dilation = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_pair(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'tessera.conv2d' op padding must have 2 entries, found 1}}
  %0 = tessera.conv2d %x, %w stride = [1, 1] padding = [0] dilation = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @conv_window(%x: tensor<1x3x2x2xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'tessera.conv2d' op the window does not fit in the input 1x3x2x2}}
  %0 = tessera.conv2d %x, %w stride = [1, 1] padding = [0, 0] dilation = [1, 1] groups = 1 : (tensor<1x3x2x2xf32>, tensor<4x3x3x3xf32>) -> tensor<1x4x1x1xf32>
  return
}

// -----

func.func @conv_rank(%x: tensor<3x8x8xf32>, %w: tensor<4x3x3x3xf32>) {
  // expected-error @+1 {{'tessera.conv2d' op input must be [N, C, H, W], found 'tensor<3x8x8xf32>'}}
  %0 = tessera.conv2d %x, %w stride = [1, 1] padding = [0, 0] dilation = [1, 1] groups = 1 : (tensor<3x8x8xf32>, tensor<4x3x3x3xf32>) -> tensor<4x6x6xf32>
  return
}

// -----

func.func @conv_bias(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3x3xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{'tessera.conv2d' op bias shape 3 differs from the expected 4}}
  %0 = tessera.conv2d %x, %w, %b stride = [1, 1] padding = [0, 0] dilation = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3x3xf32>, tensor<3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @pool_output(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'tessera.max_pool2d' op result shape 1x3x3x3 differs from the expected 1x3x4x4}}
  %0 = tessera.max_pool2d %x kernel = [2, 2] stride = [2, 2] padding = [0, 0] : tensor<1x3x8x8xf32> -> tensor<1x3x3x3xf32>
  return
}

// -----

func.func @pool_padding(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'tessera.avg_pool2d' op padding 2 is more than half the kernel size 3}}
  %0 = tessera.avg_pool2d %x kernel = [3, 3] stride = [1, 1] padding = [2, 2] : tensor<1x3x8x8xf32> -> tensor<1x3x10x10xf32>
  return
}

// -----

func.func @pool_kernel(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'tessera.max_pool2d' op kernel entries must be >= 1, found 0}}
  %0 = tessera.max_pool2d %x kernel = [0, 2] stride = [1, 1] padding = [0, 0] : tensor<1x3x8x8xf32> -> tensor<1x3x8x8xf32>
  return
}

// -----

func.func @adaptive_output(%x: tensor<1x3x8x8xf32>) {
  // expected-error @+1 {{'tessera.adaptive_avg_pool2d' op result shape 1x3x2x2 differs from the expected 1x3x1x1}}
  %0 = tessera.adaptive_avg_pool2d %x output_size = [1, 1] : tensor<1x3x8x8xf32> -> tensor<1x3x2x2xf32>
  return
}

// -----

func.func @zeros_dims(%n: index) {
  // expected-error @+1 {{'tessera.zeros' op needs one index operand per dynamic result dimension: 2 expected, 1 given}}
  %0 = tessera.zeros [%n] : tensor<?x?xf32>
  return
}

// -----

func.func @ones_dims(%n: index) {
  // expected-error @+1 {{'tessera.ones' op needs one index operand per dynamic result dimension: 0 expected, 1 given}}
  %0 = tessera.ones [%n] : tensor<4xf32>
  return
}

// -----

func.func @full_dims() {
  // expected-error @+1 {{'tessera.full' op needs one index operand per dynamic result dimension: 1 expected, 0 given}}
  %0 = tessera.full 1.0 : tensor<?xf32>
  return
}

// -----

func.func @arange_step() {
  // expected-error @+1 {{'tessera.arange' op step must not be 0}}
  %0 = tessera.arange start = 0.0 step = 0.0 : tensor<4xf32>
  return
}

// -----

func.func @arange_rank() {
  // expected-error @+1 {{'tessera.arange' op result #0 must be 1D tensor of any type values}}
  %0 = tessera.arange start = 0.0 step = 1.0 : tensor<2x2xf32>
  return
}

// -----

func.func @arange_bool() {
  // expected-error @+1 {{'tessera.arange' op result element type must be an integer or float type, found 'i1'}}
  %0 = tessera.arange start = 0.0 step = 1.0 : tensor<2xi1>
  return
}

// -----

func.func @randn_offset() {
  // expected-error @+1 {{'tessera.randn' op offset must be non-negative, found -1}}
  %0 = tessera.randn {offset = -1 : i64} : tensor<4xf32>
  return
}

// -----

func.func @rand_dims() {
  // expected-error @+1 {{'tessera.rand' op needs one index operand per dynamic result dimension: 1 expected, 0 given}}
  %0 = tessera.rand : tensor<?xf32>
  return
}

// -----

func.func @rand_int() {
  // expected-error @+1 {{'tessera.rand' op result #0 must be ranked tensor of floating-point values}}
  %0 = tessera.rand : tensor<4xi32>
  return
}

// -----

func.func @print_count(%x: tensor<f32>) {
  // expected-error @+1 {{'tessera.print' op format has 2 placeholders for 1 operands}}
  tessera.print ["{}", "{}"](%x) : tensor<f32>
  return
}

// -----

func.func @print_brace(%x: tensor<f32>) {
  // expected-error @+1 {{'tessera.print' op format string "a } b {}" has an unmatched '}'}}
  tessera.print ["a } b {}"](%x) : tensor<f32>
  return
}

// -----

func.func @print_unclosed(%x: tensor<f32>) {
  // expected-error @+1 {{'tessera.print' op format string "{:.3f" has an unclosed '{'}}
  tessera.print ["{:.3f"](%x) : tensor<f32>
  return
}

// -----

func.func @print_spec(%x: tensor<f32>) {
  // expected-error @+1 {{'tessera.print' op format string "{x}" has a placeholder that is neither}}
  tessera.print ["{x}"](%x) : tensor<f32>
  return
}

// -----

func.func @load_path() {
  // expected-error @+1 {{'tessera.load' op path must not be empty}}
  %0 = tessera.load "" : tensor<4xf32>
  return
}

// -----

func.func @save_path(%x: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.save' op path must not be empty}}
  tessera.save %x, "" : tensor<4xf32>
  return
}

// -----

func.func @save_commit_without_member(%x: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.save' op commit requires a member (an .npz archive)}}
  tessera.save %x, "p.npz" {commit} : tensor<4xf32>
  return
}

// -----

func.func @load_empty_member() {
  // expected-error @+1 {{'tessera.load' op member must not be empty}}
  %0 = tessera.load "p.npz" {member = ""} : tensor<4xf32>
  return
}

// -----

func.func @sample_unknown(%m: f64) {
  // expected-error @+1 {{'tessera.sample' op unknown distribution 'Gaussian'}}
  %0 = tessera.sample "Gaussian"(%m, %m) name = "w" : (f64, f64) -> tensor<f32>
  return
}

// -----

func.func @sample_arity(%m: f64) {
  // expected-error @+1 {{'tessera.sample' op Normal takes 2 parameters, found 1}}
  %0 = tessera.sample "Normal"(%m) name = "w" : (f64) -> tensor<f32>
  return
}

// -----

func.func @sample_name(%m: f64) {
  // expected-error @+1 {{'tessera.sample' op name must not be empty}}
  %0 = tessera.sample "HalfCauchy"(%m) name = "" : (f64) -> tensor<f32>
  return
}

// -----

func.func @observe_arity(%y: tensor<4xf32>, %m: f64) {
  // expected-error @+1 {{'tessera.observe' op StudentT takes 1 to 3 parameters, found 4}}
  tessera.observe %y from "StudentT"(%m, %m, %m, %m) name = "y" : tensor<4xf32>, (f64, f64, f64, f64)
  return
}

// -----

func.func @cross_entropy_rank(%l: tensor<f32>, %y: tensor<i64>) {
  // expected-error @+1 {{'tessera.cross_entropy' op logits must be [..., C]}}
  %0 = tessera.cross_entropy %l, %y : (tensor<f32>, tensor<i64>) -> tensor<f32>
  return
}

// -----

func.func @split_no_results(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.split' op needs at least one result}}
  "tessera.split"(%a) {axis = 1 : i64} : (tensor<4x8xf32>) -> ()
  return
}

// -----

func.func @split_negative(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.split' op sizes must be non-negative, found -2}}
  %0:2 = tessera.split %a axis = 1 sizes = [10, -2] : tensor<4x8xf32> -> tensor<4x10xf32>, tensor<4x2xf32>
  return
}

// -----

func.func @stack_axis(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.stack' op axis 2 is out of range for inserting into rank 1}}
  %0 = tessera.stack %a, %a axis = 2 : (tensor<4xf32>, tensor<4xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @concat_element(%a: tensor<4xf32>, %b: tensor<4xf16>) {
  // expected-error @+1 {{'tessera.concat' op operand element type must be 'f32', found 'f16'}}
  %0 = tessera.concat %a, %b axis = 0 : (tensor<4xf32>, tensor<4xf16>) -> tensor<8xf32>
  return
}

// -----

func.func @conv_weight_rank(%x: tensor<1x3x8x8xf32>, %w: tensor<4x3x3xf32>) {
  // expected-error @+1 {{'tessera.conv2d' op weight must be [O, C / groups, kH, kW], found 'tensor<4x3x3xf32>'}}
  %0 = tessera.conv2d %x, %w stride = [1, 1] padding = [0, 0] dilation = [1, 1] groups = 1 : (tensor<1x3x8x8xf32>, tensor<4x3x3xf32>) -> tensor<1x4x6x6xf32>
  return
}

// -----

func.func @where_result(%c: tensor<4xi1>, %a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.where' op result element type must be 'f32', found 'f16'}}
  %0 = tessera.where %c, %a, %a : (tensor<4xi1>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf16>
  return
}

// -----

func.func @unary_type(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.tanh' op requires the same type for all operands and results}}
  %0 = "tessera.tanh"(%a) : (tensor<4xf32>) -> tensor<4xf16>
  return
}

// -----

func.func @policy_kind(%a: tensor<4x8xf32>) {
  // expected-error @+1 {{'tessera.transpose' op attribute 'policy' must be a #tessera.policy, found "f32"}}
  %0 = tessera.transpose %a [1, 0] {policy = "f32"} : tensor<4x8xf32> -> tensor<8x4xf32>
  return
}

// -----

func.func private @grad_loss(%a: tensor<4xf32>, %l: tensor<4xi64>) -> tensor<f32>
func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>

func.func @grad_no_callee(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.grad' op callee @nothing is not a function of the module}}
  %0 = tessera.grad @nothing(%a) {argnums = array<i64: 0>} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func private @grad_loss(%a: tensor<4xf32>, %l: tensor<4xi64>) -> tensor<f32>
func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>

func.func @grad_argnums_range(%a: tensor<4xf32>, %l: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.grad' op argnums entry 2 is out of range for 2 arguments}}
  %0 = tessera.grad @grad_loss(%a, %l) {argnums = array<i64: 2>} : (tensor<4xf32>, tensor<4xi64>) -> tensor<4xf32>
  return
}

// -----

func.func private @grad_loss(%a: tensor<4xf32>, %l: tensor<4xi64>) -> tensor<f32>
func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>

func.func @grad_argnums_repeated(%a: tensor<4xf32>, %l: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.grad' op argnums entry 0 is repeated}}
  %0:2 = tessera.grad @grad_loss(%a, %l) {argnums = array<i64: 0, 0>} : (tensor<4xf32>, tensor<4xi64>) -> (tensor<4xf32>, tensor<4xf32>)
  return
}

// -----

func.func private @grad_loss(%a: tensor<4xf32>, %l: tensor<4xi64>) -> tensor<f32>
func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>

func.func @grad_result_count(%a: tensor<4xf32>, %l: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.grad' op has 1 results; expected 2 (the value, then one gradient per argnums entry)}}
  %0 = tessera.grad @grad_loss(%a, %l) {argnums = array<i64: 0>, value} : (tensor<4xf32>, tensor<4xi64>) -> tensor<4xf32>
  return
}

// -----

func.func private @grad_loss(%a: tensor<4xf32>, %l: tensor<4xi64>) -> tensor<f32>
func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>

func.func @grad_result_type(%a: tensor<4xf32>, %l: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.grad' op gradient 0 has type 'tensor<?xf32>'; expected 'tensor<4xf32>', the type of argument 0}}
  %0 = tessera.grad @grad_loss(%a, %l) {argnums = array<i64: 0>} : (tensor<4xf32>, tensor<4xi64>) -> tensor<?xf32>
  return
}

// -----

func.func private @grad_loss(%a: tensor<4xf32>, %l: tensor<4xi64>) -> tensor<f32>
func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>

func.func @grad_integer(%a: tensor<4xf32>, %l: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.grad' op argument 1 has type 'tensor<4xi64>', which is not floating point}}
  %0 = tessera.grad @grad_loss(%a, %l) {argnums = array<i64: 1>} : (tensor<4xf32>, tensor<4xi64>) -> tensor<4xi64>
  return
}

// -----

func.func private @grad_loss(%a: tensor<4xf32>, %l: tensor<4xi64>) -> tensor<f32>
func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>

func.func @grad_arg_type(%a: tensor<?xf32>, %l: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.grad' op argument 0 has type 'tensor<?xf32>'; @grad_loss takes 'tensor<4xf32>'}}
  %0 = tessera.grad @grad_loss(%a, %l) {argnums = array<i64: 0>} : (tensor<?xf32>, tensor<4xi64>) -> tensor<?xf32>
  return
}

// -----

func.func private @grad_loss(%a: tensor<4xf32>, %l: tensor<4xi64>) -> tensor<f32>
func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>

func.func @grad_not_scalar(%a: tensor<4xf32>) {
  // expected-error @+1 {{'tessera.grad' op callee @grad_vector returns 'tensor<4xf32>', not a float scalar}}
  %0 = tessera.grad @grad_vector(%a) {argnums = array<i64: 0>} : (tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>
func.func private @grad_ints(%a: tensor<4xf32>) -> tensor<4xi64>

func.func @grad_seed_type(%a: tensor<4xf32>, %s: tensor<3xf32>) {
  // expected-error @+1 {{'tessera.grad' op seed has type 'tensor<3xf32>'; @grad_vector returns 'tensor<4xf32>'}}
  %0 = tessera.grad @grad_vector(%a, %s) {argnums = array<i64: 0>, seeded} : (tensor<4xf32>, tensor<3xf32>) -> tensor<4xf32>
  return
}

// -----

func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>
func.func private @grad_ints(%a: tensor<4xf32>) -> tensor<4xi64>

func.func @grad_seed_not_float(%a: tensor<4xf32>, %s: tensor<4xi64>) {
  // expected-error @+1 {{'tessera.grad' op callee @grad_ints returns 'tensor<4xi64>', not a floating-point value}}
  %0 = tessera.grad @grad_ints(%a, %s) {argnums = array<i64: 0>, seeded} : (tensor<4xf32>, tensor<4xi64>) -> tensor<4xf32>
  return
}

// -----

func.func private @grad_vector(%a: tensor<4xf32>) -> tensor<4xf32>

func.func @grad_seed_argnums(%a: tensor<4xf32>, %s: tensor<4xf32>) {
  // The seed is not an argument of the callee: argnums cannot name it.
  // expected-error @+1 {{'tessera.grad' op argnums entry 1 is out of range for 1 arguments}}
  %0 = tessera.grad @grad_vector(%a, %s) {argnums = array<i64: 1>, seeded} : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @cholesky_not_square(%a: tensor<4x3xf64>) {
  // expected-error @+1 {{'tessera.cholesky' op input matrices must be square, found 'tensor<4x3xf64>'}}
  %0 = tessera.cholesky %a : tensor<4x3xf64> -> tensor<4x3xf64>
  return
}

// -----

func.func @triangular_solve_rows(%l: tensor<4x4xf64>, %b: tensor<3x2xf64>) {
  // expected-error @+1 {{'tessera.triangular_solve' op rows of the right-hand side ('tensor<3x2xf64>') differ from the order of 'tensor<4x4xf64>'}}
  %0 = tessera.triangular_solve %l, %b {transpose = false} : (tensor<4x4xf64>, tensor<3x2xf64>) -> tensor<3x2xf64>
  return
}

// -----

func.func @triangular_solve_batch(%l: tensor<2x4x4xf64>, %b: tensor<3x4x2xf64>) {
  // expected-error @+1 {{'tessera.triangular_solve' op batch dimensions of 'tensor<2x4x4xf64>' and 'tensor<3x4x2xf64>' differ}}
  %0 = tessera.triangular_solve %l, %b {transpose = false} : (tensor<2x4x4xf64>, tensor<3x4x2xf64>) -> tensor<3x4x2xf64>
  return
}

// -----

func.func @sample_family_name(%a: tensor<4xf64>) {
  // expected-error @+1 {{'tessera.sample_family' op family must be gamma, poisson or binomial, found 'beta'}}
  %0 = tessera.sample_family %a, %a {family = "beta", seed = 0 : i64, offset = 0 : i64} : (tensor<4xf64>, tensor<4xf64>) -> tensor<4xf64>
  return
}
