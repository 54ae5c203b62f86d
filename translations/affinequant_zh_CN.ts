<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="zh_CN">
<context>
    <name>EngineMessages</name>
    <message>
        <source>the calibration text has %1 tokens, fewer than one window of %2 (+1); choose a longer text or a smaller “Sequence length”.</source>
        <translation>校准文本只有 %1 个 token，不足一个 %2（+1）token 的窗口；请选择更长的文本或更小的“序列长度”。</translation>
    </message>
    <message>
        <source>the calibration needs about %1 GB on %2 but only %3 GB are free; lower “Samples” or “Sequence length”, or keep the activation buffers in host memory.</source>
        <translation>校准在 %2 上约需 %1 GB，但只有 %3 GB 可用；请降低“样本数”或“序列长度”，或把激活缓冲区放在主机内存中。</translation>
    </message>
    <message>
        <source>block %1, epoch %2: %3 after %4 recoveries; lower the learning rates or the stability factor, or keep the matrices diagonally dominant.</source>
        <translation>块 %1，第 %2 轮：经过 %4 次恢复后仍出现%3；请降低学习率或稳定因子，或保持矩阵对角占优。</translation>
    </message>
    <message>
        <source>the quantized outputs of %1 hold %2: quantization made the block&apos;s activations overflow; use more activation bits or lower the learning rates.</source>
        <translation>%1 的量化输出含有 %2：量化使该块的激活溢出；请使用更多激活位数或降低学习率。</translation>
    </message>
    <message>
        <source>not enough disk space in &apos;%1&apos;: the run needs about %2 but only %3 are free there; free some space or choose another runs folder.</source>
        <translation>“%1”的磁盘空间不足：本次运行约需 %2，但那里只有 %3 可用；请释放空间或选择其他运行文件夹。</translation>
    </message>
    <message>
        <source>the run folder &apos;%1&apos; is in use by another run (%2); wait for that run to finish or stop it, or choose another runs folder.</source>
        <translation>运行文件夹“%1”正被另一个运行使用（%2）；请等待该运行结束或停止它，或选择其他运行文件夹。</translation>
    </message>
    <message>
        <source>&apos;%1&apos; is already quantized (a run wrote it); open the original model.</source>
        <translation>“%1”已经量化过（由某次运行写出）；请打开原始模型。</translation>
    </message>
    <message>
        <source>cannot resume &apos;%1&apos;: its model, calibration text or configuration have changed since it was interrupted; start a new run.</source>
        <translation>无法继续“%1”：自中断以来，其模型、校准文本或配置已经改变；请开始新的运行。</translation>
    </message>
    <message>
        <source>&apos;%1&apos; has no config.json: it is not a Hugging Face model folder.</source>
        <translation>“%1”中没有 config.json：它不是 Hugging Face 模型文件夹。</translation>
    </message>
    <message>
        <source>(The engine&apos;s own words, in English.)</source>
        <translation>（以上为引擎的英文原文。）</translation>
    </message>
    <message>
        <source>non-finite loss</source>
        <translation>非有限损失</translation>
    </message>
    <message>
        <source>non-finite gradient</source>
        <translation>非有限梯度</translation>
    </message>
</context>
<context>
    <name>QObject</name>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
</context>
<context>
    <name>RunReport</name>
    <message>
        <source>Run %1</source>
        <translation>运行 %1</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Calibration text</source>
        <translation>校准文本</translation>
    </message>
    <message>
        <source>Device</source>
        <translation>设备</translation>
    </message>
    <message>
        <source>Status</source>
        <translation>状态</translation>
    </message>
    <message>
        <source>Duration (s)</source>
        <translation>耗时（秒）</translation>
    </message>
    <message>
        <source>Recoveries</source>
        <translation>恢复次数</translation>
    </message>
    <message>
        <source>Perplexity</source>
        <translation>困惑度</translation>
    </message>
    <message>
        <source>%1 windows of %2 tokens of %3.</source>
        <translation>%3 的 %1 个窗口，每个 %2 个词元。</translation>
    </message>
    <message>
        <source>model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>perplexity</source>
        <translation>困惑度</translation>
    </message>
    <message>
        <source>full precision</source>
        <translation>全精度</translation>
    </message>
    <message>
        <source>round to nearest</source>
        <translation>就近取整</translation>
    </message>
    <message>
        <source>this run</source>
        <translation>本次运行</translation>
    </message>
    <message>
        <source>Configuration</source>
        <translation>配置</translation>
    </message>
    <message>
        <source>setting</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>value</source>
        <translation>值</translation>
    </message>
    <message>
        <source>Blocks</source>
        <translation>块</translation>
    </message>
    <message>
        <source>block</source>
        <translation>块</translation>
    </message>
    <message>
        <source>loss before</source>
        <translation>校准前损失</translation>
    </message>
    <message>
        <source>loss after</source>
        <translation>校准后损失</translation>
    </message>
    <message>
        <source>change</source>
        <translation>变化</translation>
    </message>
    <message>
        <source>seconds</source>
        <translation>秒</translation>
    </message>
    <message>
        <source>recoveries</source>
        <translation>恢复次数</translation>
    </message>
</context>
<context>
    <name>aq::gui::ConfigPanel</name>
    <message>
        <source>AffineQuant</source>
        <translation>AffineQuant</translation>
    </message>
    <message>
        <source>OmniQuant</source>
        <translation>OmniQuant</translation>
    </message>
    <message>
        <source>RTN (round to nearest)</source>
        <translation>RTN（就近取整）</translation>
    </message>
    <message>
        <source>AffineQuant learns full affine transforms (matrices) with a gradual mask; OmniQuant learns diagonal scales and clipping only; RTN quantizes the weights directly without any training, the baseline. Changing the method refills the fields from the preset.</source>
        <translation>AffineQuant 借助渐进掩码学习完整的仿射变换（矩阵）；OmniQuant 只学习对角缩放和截断；RTN 不经任何训练直接量化权重，作为基线。更换方法会按预设重新填写各字段。</translation>
    </message>
    <message>
        <source>(edited)</source>
        <translation>（已修改）</translation>
    </message>
    <message>
        <source>Some fields differ from the preset.</source>
        <translation>部分字段与预设不同。</translation>
    </message>
    <message>
        <source>&amp;Preset:</source>
        <translation>预设(&amp;P)：</translation>
    </message>
    <message>
        <source>&amp;Method:</source>
        <translation>方法(&amp;M)：</translation>
    </message>
    <message>
        <source>Quantization</source>
        <translation>量化</translation>
    </message>
    <message>
        <source>Bits per weight, 2 to 16. 16 leaves the weights unquantized.</source>
        <translation>每个权重的位数，2 到 16。16 表示不量化权重。</translation>
    </message>
    <message>
        <source>Bits per activation (per-token dynamic quantization at the inputs of every linear layer), 2 to 16. 16 leaves activations unquantized (weight-only quantization).</source>
        <translation>每个激活值的位数（在每个线性层的输入处按 token 动态量化），2 到 16。16 表示不量化激活（仅量化权重）。</translation>
    </message>
    <message>
        <source>Weights share one scale and zero point per group of this many input channels. 0 means one per output channel. Smaller groups are more accurate and cost more storage.</source>
        <translation>每组这么多个输入通道的权重共享一个缩放因子和零点。0 表示每个输出通道一组。组越小越精确，但存储开销越大。</translation>
    </message>
    <message>
        <source>per channel</source>
        <translation>按通道</translation>
    </message>
    <message>
        <source>Allow a partial last group</source>
        <translation>允许最后一组不完整</translation>
    </message>
    <message>
        <source>When a layer&apos;s input size is not a multiple of the group size, quantize the remainder as a smaller last group.</source>
        <translation>当某层的输入维度不是分组大小的整数倍时，把余下的部分作为较小的最后一组来量化。</translation>
    </message>
    <message>
        <source>Per-channel fallback</source>
        <translation>退回按通道量化</translation>
    </message>
    <message>
        <source>Without partial groups: quantize layers whose input size is not a multiple of the group size per output channel instead (the run report lists them). With both off, such a configuration is refused.</source>
        <translation>不允许不完整分组时：输入维度不是分组大小整数倍的层改为按输出通道量化（运行报告会列出这些层）。两项都关闭时，这样的配置会被拒绝。</translation>
    </message>
    <message>
        <source>Symmetric weights</source>
        <translation>对称权重</translation>
    </message>
    <message>
        <source>Symmetric weight grid with the zero point at 2^(bits-1), as GPTQ-style integer kernels expect. Off (default): asymmetric min/max grid.</source>
        <translation>对称的权重网格，零点为 2^(bits-1)，符合 GPTQ 类整数内核的要求。关闭（默认）：非对称的最小/最大值网格。</translation>
    </message>
    <message>
        <source>Keep 0 inside the grid range</source>
        <translation>让 0 保持在网格范围内</translation>
    </message>
    <message>
        <source>Force zero into [min, max] of every group, which packed integer exports need.</source>
        <translation>强制每组的 [min, max] 包含零，打包的整数导出格式需要这一点。</translation>
    </message>
    <message>
        <source>Reference step-size behaviour</source>
        <translation>参考实现的步长行为</translation>
    </message>
    <message>
        <source>Reproduce the reference code&apos;s missing clamp of the quantization step size (spec §2.1), for bit-exact comparisons. Off: the step is clamped, which is safer.</source>
        <translation>复现参考代码中缺失的量化步长下限钳制（规范 §2.1），用于逐位一致的对比。关闭：对步长进行钳制，更安全。</translation>
    </message>
    <message>
        <source>&amp;Weight bits:</source>
        <translation>权重位数(&amp;W)：</translation>
    </message>
    <message>
        <source>&amp;Activation bits:</source>
        <translation>激活位数(&amp;A)：</translation>
    </message>
    <message>
        <source>&amp;Group size:</source>
        <translation>分组大小(&amp;G)：</translation>
    </message>
    <message>
        <source>Calibration data</source>
        <translation>校准数据</translation>
    </message>
    <message>
        <source>Number of calibration windows drawn (seeded) from the calibration text. The paper uses 128.</source>
        <translation>从校准文本中（按随机种子）抽取的校准窗口数。论文使用 128。</translation>
    </message>
    <message>
        <source>Tokens per calibration window. Capped at the model&apos;s maximum sequence length. Memory grows with samples x length.</source>
        <translation>每个校准窗口的 token 数，不超过模型的最大序列长度。内存随 样本数 × 长度 增长。</translation>
    </message>
    <message>
        <source>Seed for drawing the calibration windows and any random initialization: the same seed, data and configuration give the same result on the CPU.</source>
        <translation>用于抽取校准窗口和随机初始化的种子：在 CPU 上，相同的种子、数据和配置得到相同的结果。</translation>
    </message>
    <message>
        <source>&amp;Samples:</source>
        <translation>样本数(&amp;S)：</translation>
    </message>
    <message>
        <source>Se&amp;quence length:</source>
        <translation>序列长度(&amp;Q)：</translation>
    </message>
    <message>
        <source>S&amp;eed:</source>
        <translation>种子(&amp;E)：</translation>
    </message>
    <message>
        <source>Transforms</source>
        <translation>变换</translation>
    </message>
    <message>
        <source>Learnable weight clipping (LWC)</source>
        <translation>可学习的权重截断（LWC）</translation>
    </message>
    <message>
        <source>Learn per-group clipping factors of the weight range instead of using plain min/max.</source>
        <translation>为权重范围学习每组的截断系数，而不是直接使用最小/最大值。</translation>
    </message>
    <message>
        <source>Learnable equivalent transforms (LET)</source>
        <translation>可学习的等价变换（LET）</translation>
    </message>
    <message>
        <source>Learn the affine transforms and shifts that move quantization difficulty between activations and weights; they are merged into the weights afterwards, so the model computes the same function.</source>
        <translation>学习在激活与权重之间转移量化难度的仿射变换和平移；之后它们会合并进权重，因此模型计算的函数不变。</translation>
    </message>
    <message>
        <source>Matrix between queries and keys</source>
        <translation>查询与键之间使用矩阵</translation>
    </message>
    <message>
        <source>Learn the query/key transform as per-head block matrices instead of a vector. Used by the W4A4 presets.</source>
        <translation>把查询/键变换学习为按注意力头分块的矩阵，而不是向量。W4A4 预设使用此项。</translation>
    </message>
    <message>
        <source>Train shifts</source>
        <translation>训练平移</translation>
    </message>
    <message>
        <source>Learn the channel shifts (bias-like offsets) of the transforms. OmniQuant keeps them at zero for LLaMA.</source>
        <translation>学习变换中的通道平移（类似偏置的偏移量）。OmniQuant 对 LLaMA 将其固定为零。</translation>
    </message>
    <message>
        <source>Initialize from the signed weight maximum</source>
        <translation>用带符号的权重最大值初始化</translation>
    </message>
    <message>
        <source>SmoothQuant-style initial scales from the signed maximum of the weights (AffineQuant); off: from the absolute maximum (OmniQuant).</source>
        <translation>按 SmoothQuant 方式，用权重的带符号最大值计算初始缩放（AffineQuant）；关闭：使用绝对值最大值（OmniQuant）。</translation>
    </message>
    <message>
        <source>Stability factor: the off-diagonal entries inside the gradual mask&apos;s band are multiplied by it. Smaller values keep the matrices closer to diagonally dominant, hence safely invertible; larger values let them move further from diagonal. The preview below shows the schedule.</source>
        <translation>稳定因子：渐进掩码带内的非对角元素会乘以它。取值越小，矩阵越接近对角占优，因而可以安全求逆；取值越大，矩阵可以离对角形式越远。下方的预览展示了掩码进度。</translation>
    </message>
    <message>
        <source>SmoothQuant migration strength for the initial scales: 0 leaves the difficulty in the activations, 1 moves it all into the weights.</source>
        <translation>初始缩放的 SmoothQuant 迁移强度：0 表示难度留在激活中，1 表示全部转移到权重中。</translation>
    </message>
    <message>
        <source>Keep matrices strictly diagonally dominant</source>
        <translation>保持矩阵严格对角占优</translation>
    </message>
    <message>
        <source>After each step, project every matrix row back to strict diagonal dominance, which guarantees invertibility. A deviation from the method (off in the paper).</source>
        <translation>每一步之后把矩阵的每一行投影回严格对角占优，从而保证可逆。这偏离了原方法（论文中关闭）。</translation>
    </message>
    <message>
        <source>Invert in float64</source>
        <translation>以 float64 求逆</translation>
    </message>
    <message>
        <source>Compute the transforms&apos; inverses in double precision: smaller merge error, more time and memory.</source>
        <translation>以双精度计算变换的逆：合并误差更小，但需要更多时间和内存。</translation>
    </message>
    <message>
        <source>&amp;Stability factor:</source>
        <translation>稳定因子(&amp;S)：</translation>
    </message>
    <message>
        <source>Migration &amp;alpha:</source>
        <translation>迁移强度 &amp;alpha：</translation>
    </message>
    <message>
        <source>Training</source>
        <translation>训练</translation>
    </message>
    <message>
        <source>Passes over the calibration samples per block. The mask band widens from the diagonal (first epoch) to the full matrix (last epoch). 0 merges the initial transforms untrained.</source>
        <translation>每个块在校准样本上训练的轮数。掩码带从对角线（第一轮）逐步扩展到整个矩阵（最后一轮）。0 表示不训练，直接合并初始变换。</translation>
    </message>
    <message>
        <source>Calibration windows per optimisation step. Must divide the number of samples.</source>
        <translation>每个优化步使用的校准窗口数，必须能整除样本数。</translation>
    </message>
    <message>
        <source>AdamW learning rate of the transforms and shifts.</source>
        <translation>变换和平移的 AdamW 学习率。</translation>
    </message>
    <message>
        <source>AdamW learning rate of the clipping factors.</source>
        <translation>截断系数的 AdamW 学习率。</translation>
    </message>
    <message>
        <source>AdamW weight decay (0 in every preset).</source>
        <translation>AdamW 权重衰减（所有预设均为 0）。</translation>
    </message>
    <message>
        <source>Augmented loss</source>
        <translation>增强损失</translation>
    </message>
    <message>
        <source>Also match the block&apos;s output on the full-precision input stream, not only on the quantized one. Used by the 2-bit and W4A4 presets.</source>
        <translation>除量化输入流外，还在全精度输入流上匹配块的输出。2 位和 W4A4 预设使用此项。</translation>
    </message>
    <message>
        <source>Mixed precision (CUDA)</source>
        <translation>混合精度（CUDA）</translation>
    </message>
    <message>
        <source>How many times a block may roll back an epoch (non-finite loss or gradient, or an ill-conditioned transform), with a lower learning rate or stability factor, before the run fails.</source>
        <translation>在运行失败之前，一个块最多可以回滚多少次训练轮（遇到非有限的损失或梯度，或病态的变换时），每次回滚都会降低学习率或稳定因子。</translation>
    </message>
    <message>
        <source>Condition estimate ||A||1 ||A^-1||1 of a transform above which the epoch is rolled back.</source>
        <translation>变换的条件数估计 ||A||1 ||A^-1||1 超过此值时，回滚该训练轮。</translation>
    </message>
    <message>
        <source>&amp;Epochs:</source>
        <translation>训练轮数(&amp;E)：</translation>
    </message>
    <message>
        <source>&amp;Batch size:</source>
        <translation>批大小(&amp;B)：</translation>
    </message>
    <message>
        <source>&amp;Transform learning rate:</source>
        <translation>变换学习率(&amp;T)：</translation>
    </message>
    <message>
        <source>C&amp;lipping learning rate:</source>
        <translation>截断学习率(&amp;L)：</translation>
    </message>
    <message>
        <source>&amp;Weight decay:</source>
        <translation>权重衰减(&amp;W)：</translation>
    </message>
    <message>
        <source>Max. &amp;recoveries:</source>
        <translation>最大恢复次数(&amp;R)：</translation>
    </message>
    <message>
        <source>&amp;Condition limit:</source>
        <translation>条件数上限(&amp;C)：</translation>
    </message>
    <message>
        <source>Deployability</source>
        <translation>可部署性</translation>
    </message>
    <message>
        <source>What the export of a run with this configuration can look like: which transforms fold into standard weights, and which export formats and runtimes compute what the run measured. Checked without reading any file.</source>
        <translation>以此配置运行后的导出会是什么样：哪些变换可以折叠进标准权重，哪些导出格式和运行时能精确计算出运行时所测量的结果。检查时不读取任何文件。</translation>
    </message>
    <message>
        <source>exact</source>
        <translation>精确</translation>
    </message>
    <message>
        <source>exact if the export&apos;s checks pass</source>
        <translation>导出检查通过时精确</translation>
    </message>
    <message>
        <source>only with an extension</source>
        <translation>仅借助扩展</translation>
    </message>
    <message>
        <source>weights only</source>
        <translation>仅权重</translation>
    </message>
    <message>
        <source>no</source>
        <translation>否</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>未知</translation>
    </message>
    <message>
        <source>Open a model to see which export formats can hold this configuration.</source>
        <translation>打开一个模型，即可查看哪些导出格式能容纳此配置。</translation>
    </message>
    <message>
        <source>Cannot check this configuration: %1</source>
        <translation>无法检查此配置：%1</translation>
    </message>
    <message>
        <source>Formats and runtimes</source>
        <translation>格式与运行时</translation>
    </message>
    <message>
        <source>Transforms that do not fold into standard weights</source>
        <translation>无法折叠进标准权重的变换</translation>
    </message>
    <message>
        <source>To make it deployable</source>
        <translation>使其可部署的方法</translation>
    </message>
    <message>
        <source>bfloat16 matrix products and activation buffers with float32 master parameters and loss, fused quantization kernels, refined inverses of the full matrices: several times faster, final block losses within 2% of the float32 path. Only on CUDA devices.</source>
        <translation>bfloat16 矩阵乘法和激活缓冲区，float32 主参数和损失，融合的量化内核，逐步修正的完整矩阵逆：速度快数倍，最终块损失与 float32 路径相差不超过 2%。仅限 CUDA 设备。</translation>
    </message>
    <message>
        <source>Activation buffers in host memory (CUDA)</source>
        <translation>激活缓冲区放在主机内存（CUDA）</translation>
    </message>
    <message>
        <source>Keep the calibration activations (samples x tokens x hidden size, two or three copies) in pinned host memory and move one batch at a time to the GPU: much less GPU memory for a few percent more time. Only on CUDA devices.</source>
        <translation>把校准激活（样本数 x token 数 x 隐藏维度，两到三份）保存在锁页主机内存中，每次只把一个批次移到 GPU：GPU 内存大大减少，时间只多几个百分点。仅限 CUDA 设备。</translation>
    </message>
    <message>
        <source>Full matrices after the norms (paper&apos;s recipe: evaluation inside AffineQuant Studio only)</source>
        <translation>归一化层之后使用完整矩阵（论文方案：只能在 AffineQuant Studio 内评估）</translation>
    </message>
    <message>
        <source>Learn the transforms before the q/k/v projections and before the MLP as full d x d matrices (the AffineQuant paper&apos;s weight-only recipe) instead of diagonal scales. The matrices stay in the model as a dense product after each norm, which no other runtime applies: transformers, vLLM and llama.cpp cannot run the result. Off by default, so that the presets give deployable models.</source>
        <translation>将 q/k/v 投影之前和 MLP 之前的变换学习为完整的 d x d 矩阵（AffineQuant 论文的仅权重方案），而不是对角缩放。这些矩阵作为每个归一化层之后的稠密乘积留在模型中，其他运行时都不会应用它们：transformers、vLLM 和 llama.cpp 无法运行这样的结果。默认关闭，以便预设得到可部署的模型。</translation>
    </message>
    <message>
        <source>&lt;p&gt;%1 &lt;b&gt;Runs only inside AffineQuant Studio&lt;/b&gt; (its own evaluation).&lt;/p&gt;</source>
        <translation>&lt;p&gt;%1 &lt;b&gt;只能在 AffineQuant Studio 内运行&lt;/b&gt;（它自己的评估）。&lt;/p&gt;</translation>
    </message>
    <message>
        <source>&lt;p&gt;%1 &lt;b&gt;Runs elsewhere:&lt;/b&gt; %2&lt;/p&gt;</source>
        <translation>&lt;p&gt;%1 &lt;b&gt;可在以下运行时运行：&lt;/b&gt;%2&lt;/p&gt;</translation>
    </message>
    <message>
        <source>Recipe of the AffineQuant paper&apos;s scripts (weight bits, activation bits, group size). Choosing one fills every field below for the selected method; any field can then be changed. &quot;teaching&quot; is the w4a4 recipe on a small calibration set: every view in seconds on a CPU, for showing how the method works.</source>
        <translation>AffineQuant 论文脚本中的配方（权重位数、激活位数、分组大小）。选择后会按所选方法填写下面的所有字段，之后每个字段都可以修改。“teaching”是在小校准集上的 w4a4 配方：在 CPU 上几秒内即可看到每个视图，用于演示方法的工作原理。</translation>
    </message>
    <message>
        <source>Rollback factor</source>
        <translation>回滚系数</translation>
    </message>
    <message>
        <source>Uniform (scale and zero point per group)</source>
        <translation>均匀（每组一个缩放因子和零点）</translation>
    </message>
    <message>
        <source>Q4_K (llama.cpp, 4 bits)</source>
        <translation>Q4_K（llama.cpp，4 位）</translation>
    </message>
    <message>
        <source>Q5_K (llama.cpp, 5 bits)</source>
        <translation>Q5_K（llama.cpp，5 位）</translation>
    </message>
    <message>
        <source>Q6_K (llama.cpp, 6 bits)</source>
        <translation>Q6_K（llama.cpp，6 位）</translation>
    </message>
    <message>
        <source>Q3_K (llama.cpp, 3 bits)</source>
        <translation>Q3_K（llama.cpp，3 位）</translation>
    </message>
    <message>
        <source>Q2_K (llama.cpp, 2 bits)</source>
        <translation>Q2_K（llama.cpp，2 位）</translation>
    </message>
    <message>
        <source>Q4_K_M mix (llama.cpp&apos;s choice per tensor)</source>
        <translation>Q4_K_M 混合（按 llama.cpp 的逐张量选择）</translation>
    </message>
    <message>
        <source>Q3_K_M mix (llama.cpp&apos;s choice per tensor)</source>
        <translation>Q3_K_M 混合（按 llama.cpp 的逐张量选择）</translation>
    </message>
    <message>
        <source>Q2_K mix (llama.cpp&apos;s choice per tensor)</source>
        <translation>Q2_K 混合（按 llama.cpp 的逐张量选择）</translation>
    </message>
    <message>
        <source>The grid the weights are quantized to. Uniform: a scale and zero point per group. The k-quant grids are llama.cpp&apos;s: super-blocks of 256 weights whose sub-blocks have integer scales (and minimums) against float16 factors. Calibration then learns exactly the grid a GGUF export stores, and the weight bits follow the grid. The mixes give attention values, attention outputs and MLP down projections more bits in some blocks, as llama.cpp&apos;s file types of the same names do.</source>
        <translation>权重量化所用的网格。均匀：每组一个缩放因子和零点。k-quant 网格即 llama.cpp 的网格：每 256 个权重为一个超块，其子块具有相对于 float16 因子的整数缩放（和最小值）。校准因此学习的正是 GGUF 导出所存储的网格，权重位数随网格而定。混合网格像 llama.cpp 同名文件类型那样，在部分块中为注意力值、注意力输出和 MLP 下投影分配更多位数。</translation>
    </message>
    <message>
        <source>Weight gr&amp;id:</source>
        <translation>权重网格(&amp;I)：</translation>
    </message>
    <message>
        <source>Search the initial clipping</source>
        <translation>搜索初始裁剪</translation>
    </message>
    <message>
        <source>GPTQ rounding</source>
        <translation>GPTQ 舍入</translation>
    </message>
    <message>
        <source>%1: %2</source>
        <comment>advice: the control to change, then why</comment>
        <translation>%1：%2</translation>
    </message>
    <message>
        <source>on</source>
        <translation>开启</translation>
    </message>
    <message>
        <source>off</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>%1 %2: %3</source>
        <comment>advice: the control to change, its new value, then why</comment>
        <translation>%1 %2：%3</translation>
    </message>
</context>
<context>
    <name>aq::gui::EstimatePanel</name>
    <message>
        <source>%1 s</source>
        <translation>%1 秒</translation>
    </message>
    <message>
        <source>%1 min</source>
        <translation>%1 分钟</translation>
    </message>
    <message>
        <source>%1 h %2 min</source>
        <translation>%1 小时 %2 分钟</translation>
    </message>
    <message numerus="yes">
        <source>&lt;b&gt;Memory&lt;/b&gt; per rank (%n ranks) on %1: about %2 (activation buffers %3, one block %4, one training step %5, gradient exchange %6)</source>
        <translation>
            <numerusform>&lt;b&gt;内存&lt;/b&gt;（每个进程，共 %n 个进程，%1）：约 %2（激活缓冲区 %3，一个块 %4，一个训练步 %5，梯度交换 %6）</numerusform>
        </translation>
    </message>
    <message>
        <source>&lt;b&gt;Memory&lt;/b&gt; on %1: about %2 (activation buffers %3, one block %4, one training step %5)</source>
        <translation>&lt;b&gt;内存&lt;/b&gt;（%1）：约 %2（激活缓冲区 %3，一个块 %4，一个训练步 %5）</translation>
    </message>
    <message>
        <source>, plus %1 of host memory for the activation buffers</source>
        <translation>，另需 %1 主机内存存放激活缓冲区</translation>
    </message>
    <message>
        <source>. &lt;span style=&apos;color:#b2182b&apos;&gt;Only %1 is free: the run would stop at once; lower the samples or the sequence length.&lt;/span&gt;</source>
        <translation>。&lt;span style=&apos;color:#b2182b&apos;&gt;只有 %1 可用：运行会立即停止；请减少样本数或序列长度。&lt;/span&gt;</translation>
    </message>
    <message>
        <source>; %1 free.</source>
        <translation>；可用 %1。</translation>
    </message>
    <message>
        <source>&lt;b&gt;Time&lt;/b&gt;: about %1 for the calibration (the last run of this kind on %2: %3 s per step)</source>
        <translation>&lt;b&gt;时间&lt;/b&gt;：校准约需 %1（在 %2 上同类配置的上次运行：每步 %3 秒）</translation>
    </message>
    <message>
        <source>&lt;b&gt;Time&lt;/b&gt;: about %1 for the calibration (measured on %2: %3 s per step)</source>
        <translation>&lt;b&gt;时间&lt;/b&gt;：校准约需 %1（在 %2 上实测：每步 %3 秒）</translation>
    </message>
    <message>
        <source>&lt;b&gt;Time&lt;/b&gt;: about %1 for the calibration (measured on %2)</source>
        <translation>&lt;b&gt;时间&lt;/b&gt;：校准约需 %1（在 %2 上实测）</translation>
    </message>
    <message>
        <source>, then about %1 for the evaluation</source>
        <translation>，之后评估约需 %1</translation>
    </message>
    <message>
        <source>, then at most about %1 for the evaluation</source>
        <translation>，之后评估至多约需 %1</translation>
    </message>
    <message>
        <source>&lt;b&gt;Time&lt;/b&gt;: more than %1 (the measurement&apos;s first block did not finish within %2 on %3)</source>
        <translation>&lt;b&gt;时间&lt;/b&gt;：超过 %1（测量的第一个块在 %3 上 %2 内未完成）</translation>
    </message>
    <message>
        <source>&lt;b&gt;Time&lt;/b&gt;: not measured (%1)</source>
        <translation>&lt;b&gt;时间&lt;/b&gt;：未能测量（%1）</translation>
    </message>
    <message>
        <source>&lt;b&gt;Time&lt;/b&gt;: not measured yet; it needs a calibration text.</source>
        <translation>&lt;b&gt;时间&lt;/b&gt;：尚未测量；需要先选择校准文本。</translation>
    </message>
    <message>
        <source>&lt;b&gt;Time&lt;/b&gt;: measuring on %1…</source>
        <translation>&lt;b&gt;时间&lt;/b&gt;：正在 %1 上测量…</translation>
    </message>
    <message>
        <source>&lt;b&gt;Time&lt;/b&gt;: not measured yet.</source>
        <translation>&lt;b&gt;时间&lt;/b&gt;：尚未测量。</translation>
    </message>
    <message>
        <source>&lt;p&gt;&lt;b&gt;Memory&lt;/b&gt; is what the engine checks against the device&apos;s free memory before it starts: the activation buffers (samples x tokens x hidden size in float32, or bfloat16 with mixed precision on large runs, for the quantized stream and the full-precision targets, a third copy with aug-loss), one block&apos;s weights, transformed copies and gradients in float32, and one training step&apos;s saved activations and attention scores. The evaluation after the run holds the model in float32 (%1) besides.&lt;/p&gt;&lt;p&gt;&lt;b&gt;Time&lt;/b&gt; comes from a measurement: a short real calibration of the first block on the chosen device with %2 samples and %3 epochs, run in the background when the device or a setting that changes the cost of a step (bits, groups, transforms, sequence length, batch size) changes. Its time per sample (targets, merging), per step and per epoch is scaled to %4 blocks x %5 epochs x %6 samples; after a run finishes, its own time per step replaces the measurement&apos;s for the same kind of configuration. The evaluation is three passes (full precision, round to nearest, quantized) over the evaluation windows at the measured cost of the full-precision targets; with all windows, their number is estimated from the text&apos;s size (about 4 bytes a token). Writing the model is not included.&lt;/p&gt;</source>
        <translation>&lt;p&gt;&lt;b&gt;内存&lt;/b&gt;是引擎在开始前与设备可用内存比较的数字：激活缓冲区（样本数 x token 数 x 隐藏维度，float32；大型运行在混合精度下为 bfloat16，包括量化流和全精度目标，启用 aug-loss 时还有第三份）、一个块的 float32 权重、变换后的副本和梯度，以及一个训练步保存的激活和注意力分数。运行之后的评估还会以 float32 保存整个模型（%1）。&lt;/p&gt;&lt;p&gt;&lt;b&gt;时间&lt;/b&gt;来自实测：在所选设备上用 %2 个样本、%3 轮对第一个块做一次简短的真实校准；设备或改变每步开销的设置（位数、分组、变换、序列长度、批大小）改变时，会在后台重新测量。每个样本（目标、合并）、每步和每轮的时间按 %4 个块 x %5 轮 x %6 个样本换算；一次运行结束后，同类配置改用该运行自己的每步时间。评估是对评估窗口的三次前向（全精度、就近取整、量化），按实测的全精度目标开销计算；使用全部窗口时，窗口数按文本大小估算（约每 4 字节一个 token）。不包括写出模型的时间。&lt;/p&gt;</translation>
    </message>
</context>
<context>
    <name>aq::gui::ExportController</name>
    <message>
        <source>&amp;Export…</source>
        <translation>导出(&amp;E)…</translation>
    </message>
    <message>
        <source>Write the selected finished run (or the last one) for another runtime: Hugging Face, AWQ, GPTQ, compressed-tensors or GGUF (llama.cpp)</source>
        <translation>将选中的已完成运行（或最近一次运行）导出给其他运行时：Hugging Face、AWQ、GPTQ、compressed-tensors 或 GGUF（llama.cpp）</translation>
    </message>
    <message>
        <source>Save Run &amp;Report…</source>
        <translation>保存运行报告(&amp;R)…</translation>
    </message>
    <message>
        <source>Save the selected finished run&apos;s (or the last one&apos;s) configuration, block losses and perplexities as Markdown or CSV</source>
        <translation>将所选已完成运行（或最近一次运行）的配置、各块损失和困惑度保存为 Markdown 或 CSV</translation>
    </message>
    <message>
        <source>There is no finished run to report on: select one in the results table.</source>
        <translation>没有可生成报告的已完成运行：请在结果表中选择一个。</translation>
    </message>
    <message>
        <source>Could not write %1: %2</source>
        <translation>无法写入 %1：%2</translation>
    </message>
    <message>
        <source>Markdown (*.md)</source>
        <translation>Markdown (*.md)</translation>
    </message>
    <message>
        <source>Save Run Report</source>
        <translation>保存运行报告</translation>
    </message>
    <message>
        <source>Markdown (*.md);;CSV (*.csv)</source>
        <translation>Markdown (*.md);;CSV (*.csv)</translation>
    </message>
    <message>
        <source>Report saved to %1</source>
        <translation>报告已保存到 %1</translation>
    </message>
    <message>
        <source>Report not saved</source>
        <translation>报告未保存</translation>
    </message>
    <message>
        <source>Cannot export:</source>
        <translation>无法导出：</translation>
    </message>
    <message>
        <source>choose an output folder.</source>
        <translation>请选择输出文件夹。</translation>
    </message>
    <message>
        <source>Exporting %1 as %2 (%3) → %4</source>
        <translation>正在将 %1 导出为 %2（%3）→ %4</translation>
    </message>
    <message>
        <source>Exporting</source>
        <translation>正在导出</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>正在取消…</translation>
    </message>
    <message>
        <source>Exporting: %1</source>
        <translation>正在导出：%1</translation>
    </message>
    <message>
        <source>Export written:</source>
        <translation>导出已写入：</translation>
    </message>
    <message numerus="yes">
        <source>%1 (%2, %n file(s), %3)</source>
        <translation>
            <numerusform>%1（%2，%n 个文件，%3）</numerusform>
        </translation>
    </message>
    <message>
        <source>Export written to %1 in %2 s</source>
        <translation>导出已写入 %1，用时 %2 秒</translation>
    </message>
    <message>
        <source>Export note: %1</source>
        <translation>导出说明：%1</translation>
    </message>
    <message>
        <source>Exported</source>
        <translation>已导出</translation>
    </message>
    <message>
        <source>Export cancelled:</source>
        <translation>导出已取消：</translation>
    </message>
    <message>
        <source>nothing was written as complete.</source>
        <translation>没有任何内容被写成完整状态。</translation>
    </message>
    <message>
        <source>Export cancelled</source>
        <translation>导出已取消</translation>
    </message>
    <message>
        <source>Cancelled</source>
        <translation>已取消</translation>
    </message>
    <message>
        <source>Cannot export: %1</source>
        <translation>无法导出：%1</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>失败</translation>
    </message>
</context>
<context>
    <name>aq::gui::ExportDialog</name>
    <message>
        <source>Not checked: %1</source>
        <translation>未检查：%1</translation>
    </message>
    <message>
        <source>Not checked: the engine does not judge this format.</source>
        <translation>未检查：引擎不评估此格式。</translation>
    </message>
    <message>
        <source>Export Run</source>
        <translation>导出运行结果</translation>
    </message>
    <message>
        <source>The finished run to export. The run that just finished, or the one selected in the results table, comes first.</source>
        <translation>要导出的已完成运行。刚完成的运行或结果表中选中的运行排在最前。</translation>
    </message>
    <message>
        <source>Format</source>
        <translation>格式</translation>
    </message>
    <message>
        <source>hf: a stock Hugging Face model with the fake-quantized weights in float16/bfloat16. awq, gptq, compressed-tensors: integer codes packed for those runtimes. gguf: one file for llama.cpp, Ollama and LM Studio, with the run&apos;s grid as ggml blocks and the tokenizer inside. Formats the run cannot produce are disabled, with the reason beside them.</source>
        <translation>hf：标准的 Hugging Face 模型，伪量化权重以 float16/bfloat16 存储。awq、gptq、compressed-tensors：为这些运行时打包的整数编码。gguf：供 llama.cpp、Ollama 和 LM Studio 使用的单个文件，以 ggml 块保存本次运行的量化网格，并内含分词器。本次运行无法生成的格式不可选，旁边注明原因。</translation>
    </message>
    <message>
        <source>Keep the post-norm matrices as extra tensors</source>
        <translation>将归一化后的矩阵保留为额外张量</translation>
    </message>
    <message>
        <source>The run learned full matrices after the norms, which a stock model has no place for. With this, hf keeps them as extra tensors with a note on applying them; stock loaders ignore them, so only custom code computes what the run computed.</source>
        <translation>本次运行在归一化之后学习了完整矩阵，标准模型中没有它们的位置。勾选后，hf 将它们保留为额外张量，并附上如何应用的说明；标准加载器会忽略它们，因此只有自定义代码才能计算出与本次运行相同的结果。</translation>
    </message>
    <message>
        <source>Only exact grids (refuse layers gguf must store as float16)</source>
        <translation>只接受精确网格（拒绝 gguf 只能以 float16 存储的层）</translation>
    </message>
    <message>
        <source>Without this, layers whose grid no ggml block type holds (2 or 3 bits, asymmetric 8 bits, groups not splitting into blocks of 32) are stored as float16 values: the same model, without the size saving.</source>
        <translation>不勾选时，没有 ggml 块类型能容纳其网格的层（2 位或 3 位、非对称 8 位、分组不能分成 32 个一块）以 float16 数值存储：模型相同，但不节省空间。</translation>
    </message>
    <message>
        <source>Storage type of the unquantized tensors (and of the scales in compressed-tensors).</source>
        <translation>未量化张量（以及 compressed-tensors 中缩放因子）的存储类型。</translation>
    </message>
    <message>
        <source>A new folder for the export (a .gguf file for gguf). It is written under a temporary name and renamed at the end, so a failed export leaves nothing that looks complete.</source>
        <translation>导出的新文件夹（gguf 为 .gguf 文件）。先以临时名称写入，最后再重命名，因此失败的导出不会留下看似完整的内容。</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>Replace an existing folder or file</source>
        <translation>替换已有的文件夹或文件</translation>
    </message>
    <message>
        <source>&amp;Run:</source>
        <translation>运行(&amp;R)：</translation>
    </message>
    <message>
        <source>&amp;Data type:</source>
        <translation>数据类型(&amp;D)：</translation>
    </message>
    <message>
        <source>&amp;Output:</source>
        <translation>输出(&amp;O)：</translation>
    </message>
    <message>
        <source>&amp;Export</source>
        <translation>导出(&amp;E)</translation>
    </message>
    <message>
        <source>&amp;Stop</source>
        <translation>停止(&amp;S)</translation>
    </message>
    <message>
        <source>Stop the export; nothing is left that looks complete.</source>
        <translation>停止导出；不会留下看似完整的内容。</translation>
    </message>
    <message>
        <source>&amp;Verify</source>
        <translation>校验(&amp;V)</translation>
    </message>
    <message>
        <source>Read the export back with decoding code independent of the writer and compare it with the run: every tensor, the logits and the perplexity on a few windows of text.</source>
        <translation>用独立于写入程序的解码代码读回导出结果，并与本次运行比较：每个张量、logits，以及若干文本窗口上的困惑度。</translation>
    </message>
    <message>
        <source>Open &amp;folder</source>
        <translation>打开文件夹(&amp;F)</translation>
    </message>
    <message>
        <source>Show the export in the file manager.</source>
        <translation>在文件管理器中显示导出结果。</translation>
    </message>
    <message>
        <source>The export did not start: another export or a run is in progress.</source>
        <translation>导出未开始：另一个导出或运行正在进行。</translation>
    </message>
    <message>
        <source>GGUF file to write</source>
        <translation>要写入的 GGUF 文件</translation>
    </message>
    <message>
        <source>GGUF models (*.gguf)</source>
        <translation>GGUF 模型 (*.gguf)</translation>
    </message>
    <message>
        <source>Folder to write the export into</source>
        <translation>导出写入的文件夹</translation>
    </message>
    <message>
        <source>Computes what the run computed: %1</source>
        <translation>计算结果与本次运行一致：%1</translation>
    </message>
    <message>
        <source>Exact if the export&apos;s check passes: %1</source>
        <translation>若导出时的检查通过则精确：%1</translation>
    </message>
    <message>
        <source>Weights only: %1</source>
        <translation>仅权重：%1</translation>
    </message>
    <message>
        <source>Only with the extra tensors below: %1</source>
        <translation>仅在保留下方的额外张量时可用：%1</translation>
    </message>
    <message>
        <source>Not possible for this run: %1</source>
        <translation>本次运行无法导出为此格式：%1</translation>
    </message>
    <message>
        <source>This run cannot be exported to any format; the reasons are listed above.</source>
        <translation>本次运行无法导出为任何格式；原因见上方。</translation>
    </message>
    <message>
        <source>Exporting: %1</source>
        <translation>正在导出：%1</translation>
    </message>
    <message numerus="yes">
        <source>Written: %1 (%2, %n file(s), %3). Verify compares it with the run.</source>
        <translation>
            <numerusform>已写入：%1（%2，%n 个文件，%3）。“校验”会将其与本次运行比较。</numerusform>
        </translation>
    </message>
    <message>
        <source>Export stopped: nothing was written as complete.</source>
        <translation>导出已停止：没有任何内容被写成完整状态。</translation>
    </message>
    <message>
        <source>Cannot export: %1</source>
        <translation>无法导出：%1</translation>
    </message>
    <message>
        <source>Verifying %1 against the run…</source>
        <translation>正在将 %1 与本次运行比较…</translation>
    </message>
    <message>
        <source>Verification stopped.</source>
        <translation>校验已停止。</translation>
    </message>
    <message>
        <source>Cannot verify: %1</source>
        <translation>无法校验：%1</translation>
    </message>
    <message>
        <source>Verification passed: the export holds what the run computed.</source>
        <translation>校验通过：导出结果与本次运行的计算一致。</translation>
    </message>
    <message numerus="yes">
        <source>Verification FAILED: %n problem(s) in the export.</source>
        <translation>
            <numerusform>校验失败：导出结果中有 %n 个问题。</numerusform>
        </translation>
    </message>
    <message>
        <source>Largest weight difference %1 (%2).</source>
        <translation>最大权重差异 %1（%2）。</translation>
    </message>
    <message>
        <source>Logits over %1 windows of %2 tokens (%3): largest difference %4, mean KL divergence %5 nats, same top token at %6 % of positions.</source>
        <translation>在 %1 个窗口、每个 %2 个词元（%3）上的 logits：最大差异 %4，平均 KL 散度 %5 nats，%6 % 的位置最可能的词元相同。</translation>
    </message>
    <message>
        <source>Perplexity: run %1, export %2.</source>
        <translation>困惑度：运行 %1，导出 %2。</translation>
    </message>
    <message>
        <source>Problem: %1</source>
        <translation>问题：%1</translation>
    </message>
    <message>
        <source>Note: %1</source>
        <translation>说明：%1</translation>
    </message>
    <message>
        <source>Could not open %1 in the file manager.</source>
        <translation>无法在文件管理器中打开 %1。</translation>
    </message>
    <message>
        <source>Close</source>
        <translation>关闭</translation>
    </message>
    <message>
        <source>Token embeddings as Q6_K</source>
        <translation>词元嵌入存为 Q6_K</translation>
    </message>
    <message>
        <source>As llama.cpp&apos;s Q4_K_M, Q3_K_M and Q2_K files store them (also the tied output layer): a smaller file, at the cost of rounding the embeddings, which the calibration did not see. Without this they keep the data type below.</source>
        <translation>与 llama.cpp 的 Q4_K_M、Q3_K_M 和 Q2_K 文件的存储方式相同（也包括共享的输出层）：文件更小，代价是对嵌入进行舍入，而校准并未考虑这一点。不勾选时，它们保持下方的数据类型。</translation>
    </message>
</context>
<context>
    <name>aq::gui::MainWindow</name>
    <message>
        <source>&amp;Open Model…</source>
        <translation>打开模型(&amp;O)…</translation>
    </message>
    <message>
        <source>Choose a Hugging Face model folder</source>
        <translation>选择一个 Hugging Face 模型文件夹</translation>
    </message>
    <message>
        <source>Open &amp;Run…</source>
        <translation>打开运行(&amp;R)…</translation>
    </message>
    <message>
        <source>Reopen a finished run folder (run.json) to compare it or reuse its configuration</source>
        <translation>重新打开已完成的运行文件夹（run.json），以便对比或复用其配置</translation>
    </message>
    <message>
        <source>Open a run folder</source>
        <translation>打开运行文件夹</translation>
    </message>
    <message>
        <source>&amp;Run Calibration</source>
        <translation>运行校准(&amp;R)</translation>
    </message>
    <message>
        <source>Quantize the model with the current configuration</source>
        <translation>按当前配置量化模型</translation>
    </message>
    <message>
        <source>&amp;Cancel Run</source>
        <translation>取消运行(&amp;C)</translation>
    </message>
    <message>
        <source>Stop the running calibration; nothing is left that looks complete</source>
        <translation>停止正在运行的校准；不会留下看似完整的输出</translation>
    </message>
    <message>
        <source>&amp;Quit</source>
        <translation>退出(&amp;Q)</translation>
    </message>
    <message>
        <source>&amp;Logarithmic Loss Axis</source>
        <translation>损失使用对数坐标(&amp;L)</translation>
    </message>
    <message>
        <source>&amp;File</source>
        <translation>文件(&amp;F)</translation>
    </message>
    <message>
        <source>Choose &amp;Calibration Text…</source>
        <translation>选择校准文本(&amp;C)…</translation>
    </message>
    <message>
        <source>Calibration text</source>
        <translation>校准文本</translation>
    </message>
    <message>
        <source>Text files (*.txt);;All files (*)</source>
        <translation>文本文件 (*.txt);;所有文件 (*)</translation>
    </message>
    <message>
        <source>Choose &amp;Evaluation Text…</source>
        <translation>选择评估文本(&amp;E)…</translation>
    </message>
    <message>
        <source>Evaluation text</source>
        <translation>评估文本</translation>
    </message>
    <message>
        <source>Open &amp;Demo Model</source>
        <translation>打开演示模型(&amp;D)</translation>
    </message>
    <message>
        <source>&amp;Run</source>
        <translation>运行(&amp;R)</translation>
    </message>
    <message>
        <source>&amp;View</source>
        <translation>视图(&amp;V)</translation>
    </message>
    <message>
        <source>&amp;Help</source>
        <translation>帮助(&amp;H)</translation>
    </message>
    <message>
        <source>&amp;About AffineQuant Studio</source>
        <translation>关于 AffineQuant Studio(&amp;A)</translation>
    </message>
    <message>
        <source>About &amp;Qt</source>
        <translation>关于 &amp;Qt</translation>
    </message>
    <message>
        <source>Main</source>
        <translation>主工具栏</translation>
    </message>
    <message>
        <source>Model</source>
        <translation>模型</translation>
    </message>
    <message>
        <source>Reading model %1</source>
        <translation>正在读取模型 %1</translation>
    </message>
    <message>
        <source>Texts</source>
        <translation>文本</translation>
    </message>
    <message>
        <source>UTF-8 text from which the calibration windows are drawn. Keep it disjoint from the evaluation text, or the perplexity flatters the result.</source>
        <translation>从中抽取校准窗口的 UTF-8 文本。它应与评估文本不重叠，否则困惑度会偏乐观。</translation>
    </message>
    <message>
        <source>UTF-8 text on which the full-precision, round-to-nearest and quantized perplexities are measured after the run. Leave empty to skip the evaluation.</source>
        <translation>运行结束后在其上测量全精度、就近取整和量化后困惑度的 UTF-8 文本。留空则跳过评估。</translation>
    </message>
    <message>
        <source>all</source>
        <translation>全部</translation>
    </message>
    <message>
        <source>Evaluate on at most this many windows of the evaluation text (0: all of them).</source>
        <translation>最多在评估文本的这么多个窗口上评估（0：全部窗口）。</translation>
    </message>
    <message>
        <source>Ca&amp;libration:</source>
        <translation>校准(&amp;L)：</translation>
    </message>
    <message>
        <source>E&amp;valuation:</source>
        <translation>评估(&amp;V)：</translation>
    </message>
    <message>
        <source>Evaluation &amp;windows:</source>
        <translation>评估窗口数(&amp;W)：</translation>
    </message>
    <message>
        <source>Configuration</source>
        <translation>配置</translation>
    </message>
    <message>
        <source>Mask schedule</source>
        <translation>掩码进度</translation>
    </message>
    <message>
        <source>Run</source>
        <translation>运行</translation>
    </message>
    <message>
        <source>Where the calibration runs. CUDA devices appear when this build&apos;s LibTorch supports CUDA and a device is visible.</source>
        <translation>校准运行的设备。当本构建的 LibTorch 支持 CUDA 且能看到设备时，会列出 CUDA 设备。</translation>
    </message>
    <message>
        <source>Could not list devices: %1</source>
        <translation>无法列出设备：%1</translation>
    </message>
    <message>
        <source>CPU (cpu)</source>
        <translation>CPU（cpu）</translation>
    </message>
    <message>
        <source>Each run writes a new folder here: run.json (configuration, metrics, perplexities) and model/ (the quantized model in Hugging Face layout).</source>
        <translation>每次运行都会在这里新建一个文件夹：run.json（配置、指标、困惑度）和 model/（Hugging Face 格式的量化模型）。</translation>
    </message>
    <message>
        <source>&amp;Device:</source>
        <translation>设备(&amp;D)：</translation>
    </message>
    <message>
        <source>Runs &amp;folder:</source>
        <translation>运行文件夹(&amp;F)：</translation>
    </message>
    <message>
        <source>Runs folder</source>
        <translation>运行文件夹</translation>
    </message>
    <message>
        <source>Ca&amp;ncel</source>
        <translation>取消(&amp;N)</translation>
    </message>
    <message>
        <source>Stop the running calibration (Shift+F5)</source>
        <translation>停止正在运行的校准（Shift+F5）</translation>
    </message>
    <message>
        <source>&amp;Loss</source>
        <translation>损失(&amp;L)</translation>
    </message>
    <message>
        <source>&amp;Matrices</source>
        <translation>矩阵(&amp;M)</translation>
    </message>
    <message>
        <source>Mar&amp;gins</source>
        <translation>裕度(&amp;G)</translation>
    </message>
    <message>
        <source>&amp;Activations</source>
        <translation>激活(&amp;A)</translation>
    </message>
    <message>
        <source>&amp;Weights</source>
        <translation>权重(&amp;W)</translation>
    </message>
    <message>
        <source>Res&amp;ults</source>
        <translation>结果(&amp;U)</translation>
    </message>
    <message>
        <source>&amp;Teaching</source>
        <translation>教学(&amp;T)</translation>
    </message>
    <message>
        <source>Block output loss per optimisation step, one curve per block</source>
        <translation>每个优化步的块输出损失，每个块一条曲线</translation>
    </message>
    <message>
        <source>The learned affine matrices, epoch by epoch, with the gradual mask</source>
        <translation>逐轮查看学到的仿射矩阵及渐进掩码</translation>
    </message>
    <message>
        <source>Diagonal-dominance margins of the learned matrices</source>
        <translation>学到的矩阵的对角占优裕度</translation>
    </message>
    <message>
        <source>Per-channel activation ranges before and after each transform</source>
        <translation>每个变换前后各通道的激活范围</translation>
    </message>
    <message>
        <source>Weight histograms with clipping bounds and the quantization grid</source>
        <translation>权重直方图，含截断边界和量化网格</translation>
    </message>
    <message>
        <source>Perplexities of the runs of this model</source>
        <translation>此模型各次运行的困惑度</translation>
    </message>
    <message>
        <source>Log</source>
        <translation>日志</translation>
    </message>
    <message>
        <source>Setup</source>
        <translation>设置</translation>
    </message>
    <message>
        <source>No model:</source>
        <translation>没有模型：</translation>
    </message>
    <message>
        <source>the bundled demo model was not found. Open a model folder with File &gt; Open Model.</source>
        <translation>未找到随附的演示模型。请通过“文件 &gt; 打开模型”打开一个模型文件夹。</translation>
    </message>
    <message>
        <source>Model %1: %2 blocks, %3 parameters</source>
        <translation>模型 %1：%2 个块，%3 个参数</translation>
    </message>
    <message>
        <source>Cannot open the model in %1:</source>
        <translation>无法打开 %1 中的模型：</translation>
    </message>
    <message>
        <source>Cannot open the model in %1: %2</source>
        <translation>无法打开 %1 中的模型：%2</translation>
    </message>
    <message>
        <source>Not ready:</source>
        <translation>尚未就绪：</translation>
    </message>
    <message>
        <source>the model is still being read.</source>
        <translation>模型仍在读取中。</translation>
    </message>
    <message>
        <source>open a model folder first (File &gt; Open Model).</source>
        <translation>请先打开一个模型文件夹（文件 &gt; 打开模型）。</translation>
    </message>
    <message>
        <source>No calibration text:</source>
        <translation>没有校准文本：</translation>
    </message>
    <message>
        <source>the file &apos;%1&apos; does not exist. Choose a UTF-8 text file.</source>
        <translation>文件“%1”不存在。请选择一个 UTF-8 文本文件。</translation>
    </message>
    <message>
        <source>No evaluation text:</source>
        <translation>没有评估文本：</translation>
    </message>
    <message>
        <source>the file &apos;%1&apos; does not exist. Choose a text file, or clear the field to skip the evaluation.</source>
        <translation>文件“%1”不存在。请选择一个文本文件，或清空该字段以跳过评估。</translation>
    </message>
    <message>
        <source>No runs folder:</source>
        <translation>没有运行文件夹：</translation>
    </message>
    <message>
        <source>cannot create &apos;%1&apos;. Choose a writable folder.</source>
        <translation>无法创建“%1”。请选择一个可写的文件夹。</translation>
    </message>
    <message>
        <source>Unsupported configuration:</source>
        <translation>不支持的配置：</translation>
    </message>
    <message>
        <source>Starting %1 %2 on %3 → %4</source>
        <translation>开始 %1 %2，设备 %3 → %4</translation>
    </message>
    <message>
        <source>Cancel requested</source>
        <translation>已请求取消</translation>
    </message>
    <message>
        <source>Block %1, %2, epoch %3: %4 of %5 rows not strictly dominant (min margin %6, condition %7)</source>
        <translation>块 %1，%2，第 %3 轮：%5 行中有 %4 行不是严格对角占优（最小裕度 %6，条件数 %7）</translation>
    </message>
    <message>
        <source>block %1, %2, epoch %3</source>
        <translation>块 %1，%2，第 %3 轮</translation>
    </message>
    <message>
        <source>Recovery in block %1, epoch %2: %3; %4</source>
        <translation>块 %1 第 %2 轮发生恢复：%3；%4</translation>
    </message>
    <message>
        <source>quantized perplexity %1 (full precision %2, round-to-nearest %3), %4, saved in %5</source>
        <translation>量化后困惑度 %1（全精度 %2，就近取整 %3），用时 %4，保存在 %5</translation>
    </message>
    <message>
        <source>%1, saved in %2</source>
        <translation>用时 %1，保存在 %2</translation>
    </message>
    <message>
        <source>Run finished:</source>
        <translation>运行完成：</translation>
    </message>
    <message>
        <source>Run finished: %1</source>
        <translation>运行完成：%1</translation>
    </message>
    <message numerus="yes">
        <source>%n recovery(ies) acted during the run; see run.json.</source>
        <translation>
            <numerusform>运行中发生了 %n 次恢复；详见 run.json。</numerusform>
        </translation>
    </message>
    <message>
        <source>The run stopped on bad input:</source>
        <translation>运行因输入错误而停止：</translation>
    </message>
    <message>
        <source>Out of memory:</source>
        <translation>内存不足：</translation>
    </message>
    <message>
        <source>Numerical failure:</source>
        <translation>数值失败：</translation>
    </message>
    <message>
        <source>Internal error:</source>
        <translation>内部错误：</translation>
    </message>
    <message>
        <source>Run cancelled:</source>
        <translation>运行已取消：</translation>
    </message>
    <message>
        <source>Run cancelled</source>
        <translation>运行已取消</translation>
    </message>
    <message>
        <source>Calibration running</source>
        <translation>校准正在运行</translation>
    </message>
    <message>
        <source>A calibration is running. Cancel it and quit? Nothing of it will be kept as complete.</source>
        <translation>校准正在运行。要取消并退出吗？其结果都不会被保存为完整结果。</translation>
    </message>
    <message>
        <source>Cannot open the run:</source>
        <translation>无法打开该运行：</translation>
    </message>
    <message>
        <source>Run opened:</source>
        <translation>已打开运行：</translation>
    </message>
    <message>
        <source>Opened run %1</source>
        <translation>已打开运行 %1</translation>
    </message>
    <message>
        <source>Nothing to compare:</source>
        <translation>没有可对比的内容：</translation>
    </message>
    <message>
        <source>no loss curves were kept for this run.</source>
        <translation>此运行没有保存损失曲线。</translation>
    </message>
    <message>
        <source>AffineQuant Studio</source>
        <translation>AffineQuant Studio</translation>
    </message>
    <message>
        <source>%1 — AffineQuant Studio</source>
        <translation>%1 — AffineQuant Studio</translation>
    </message>
    <message numerus="yes">
        <source>available, %n device(s)</source>
        <translation>
            <numerusform>可用，%n 个设备</numerusform>
        </translation>
    </message>
    <message>
        <source>not available in this build</source>
        <translation>本构建不支持</translation>
    </message>
    <message>
        <source>unknown</source>
        <translation>未知</translation>
    </message>
    <message>
        <source>About AffineQuant Studio</source>
        <translation>关于 AffineQuant Studio</translation>
    </message>
    <message>
        <source>&lt;h3&gt;AffineQuant Studio %1&lt;/h3&gt;&lt;p&gt;Post-training quantization of large language models with AffineQuant: learned affine transforms, a gradual mask and weight clipping, calibrated block by block.&lt;/p&gt;&lt;table&gt;&lt;tr&gt;&lt;td&gt;Qt&lt;/td&gt;&lt;td&gt;%2 (built with %3)&lt;/td&gt;&lt;/tr&gt;&lt;tr&gt;&lt;td&gt;LibTorch&lt;/td&gt;&lt;td&gt;%4&lt;/td&gt;&lt;/tr&gt;&lt;tr&gt;&lt;td&gt;CUDA&lt;/td&gt;&lt;td&gt;%5&lt;/td&gt;&lt;/tr&gt;&lt;tr&gt;&lt;td&gt;QCustomPlot&lt;/td&gt;&lt;td&gt;%6&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;</source>
        <translation>&lt;h3&gt;AffineQuant Studio %1&lt;/h3&gt;&lt;p&gt;用 AffineQuant 对大语言模型做训练后量化：学习仿射变换、渐进掩码和权重截断，逐块校准。&lt;/p&gt;&lt;table&gt;&lt;tr&gt;&lt;td&gt;Qt&lt;/td&gt;&lt;td&gt;%2（构建时为 %3）&lt;/td&gt;&lt;/tr&gt;&lt;tr&gt;&lt;td&gt;LibTorch&lt;/td&gt;&lt;td&gt;%4&lt;/td&gt;&lt;/tr&gt;&lt;tr&gt;&lt;td&gt;CUDA&lt;/td&gt;&lt;td&gt;%5&lt;/td&gt;&lt;/tr&gt;&lt;tr&gt;&lt;td&gt;QCustomPlot&lt;/td&gt;&lt;td&gt;%6&lt;/td&gt;&lt;/tr&gt;&lt;/table&gt;</translation>
    </message>
    <message>
        <source>&amp;Language</source>
        <translation>语言(&amp;L)</translation>
    </message>
    <message>
        <source>System default</source>
        <translation>跟随系统</translation>
    </message>
    <message>
        <source>Language:</source>
        <translation>语言：</translation>
    </message>
    <message>
        <source>the new language applies the next time AffineQuant Studio starts.</source>
        <translation>新的语言将在下次启动 AffineQuant Studio 时生效。</translation>
    </message>
    <message>
        <source>A small or learned matrix to explore masks, dominance, Gershgorin discs and invertibility</source>
        <translation>用小矩阵或学习到的矩阵探索掩码、对角占优、Gershgorin 圆盘与可逆性</translation>
    </message>
    <message>
        <source>%1. Its configuration is loaded and every view shows the run as it was calibrated; the Matrices tab replays its epochs.</source>
        <translation>%1。已载入其配置，所有视图都显示校准时的内容；“矩阵”页可以逐轮回放。</translation>
    </message>
    <message>
        <source>%1. Its configuration is loaded. The run folder keeps no views (made by an earlier version, or the views folder was removed): losses and margins are shown per epoch from run.json; matrices, activations and weight histograms are not available.</source>
        <translation>%1。已载入其配置。运行文件夹中没有保存视图（由早期版本生成，或 views 文件夹已被删除）：损失和裕度按轮取自 run.json；矩阵、激活和权重直方图不可用。</translation>
    </message>
    <message>
        <source>%1. Its configuration is loaded. Blocks %2 have no stored views (see the log): for them, losses and margins are shown per epoch from run.json, without matrices, activations or histograms.</source>
        <translation>%1。已载入其配置。块 %2 没有保存的视图（见日志）：这些块的损失和裕度按轮取自 run.json，没有矩阵、激活和直方图。</translation>
    </message>
    <message>
        <source>Views not shown: %1</source>
        <translation>未显示的视图：%1</translation>
    </message>
    <message>
        <source>Res&amp;ume Interrupted Run…</source>
        <translation>继续中断的运行(&amp;U)…</translation>
    </message>
    <message>
        <source>Continue a run that stopped before the end; its finished blocks are kept</source>
        <translation>继续一个未完成就停止的运行；已完成的块会保留</translation>
    </message>
    <message>
        <source>Resume Run</source>
        <translation>继续运行</translation>
    </message>
    <message>
        <source>Cannot resume the run:</source>
        <translation>无法继续运行：</translation>
    </message>
    <message>
        <source>Cannot resume the run: %1</source>
        <translation>无法继续运行：%1</translation>
    </message>
    <message>
        <source>%1 is a finished run; open it with File &gt; Open Run.</source>
        <translation>%1 是已完成的运行；请用“文件 &gt; 打开运行”打开它。</translation>
    </message>
    <message>
        <source>%1 holds no interrupted run (no readable progress.json).</source>
        <translation>%1 中没有中断的运行（没有可读的 progress.json）。</translation>
    </message>
    <message>
        <source>%1 was started by an earlier version that does not record its model, text and configuration; resume it with the command-line program (affinequant quantize … --resume).</source>
        <translation>%1 由早期版本启动，未记录其模型、文本和配置；请用命令行程序继续（affinequant quantize … --resume）。</translation>
    </message>
    <message>
        <source>its model folder %1 is no longer there.</source>
        <translation>其模型文件夹 %1 已不存在。</translation>
    </message>
    <message>
        <source>its calibration text %1 is no longer there.</source>
        <translation>其校准文本 %1 已不存在。</translation>
    </message>
    <message>
        <source>the evaluation text &apos;%1&apos; does not exist. Choose a text file, or clear the field to skip the evaluation.</source>
        <translation>评估文本“%1”不存在。请选择一个文本文件，或清空该字段以跳过评估。</translation>
    </message>
    <message>
        <source>Resuming %1 after %2 finished blocks</source>
        <translation>在 %2 个已完成的块之后继续 %1</translation>
    </message>
    <message numerus="yes">
        <source>%n finished block(s) are kept in %1: once the problem is solved, Run &gt; Resume Interrupted Run continues from there.</source>
        <translation>
            <numerusform>%n 个已完成的块保留在 %1 中：问题解决后，“运行 &gt; 继续中断的运行”会从那里继续。</numerusform>
        </translation>
    </message>
    <message>
        <source>The run did not finish:</source>
        <translation>运行未完成：</translation>
    </message>
    <message>
        <source>%1 stopped after %2 of %3 blocks. Run &gt; Resume Interrupted Run continues it with the model, text and configuration it was started with.</source>
        <translation>%1 在 %3 个块中的第 %2 个之后停止。“运行 &gt; 继续中断的运行”会用启动时的模型、文本和配置继续它。</translation>
    </message>
    <message>
        <source>Opening the run&apos;s model %1 before resuming</source>
        <translation>继续之前先打开该运行的模型 %1</translation>
    </message>
    <message>
        <source>Automatic</source>
        <translation>自动</translation>
    </message>
    <message>
        <source>CPU &amp;threads:</source>
        <translation>CPU 线程(&amp;T)：</translation>
    </message>
    <message>
        <source>Threads the CPU computes with. Automatic: every usable core, or fewer when AQ_THREADS or OMP_NUM_THREADS says so. The program splits them between LibTorch and the BLAS library itself, so no setting makes a run slower than one thread. Now: %1</source>
        <translation>CPU 计算所用的线程数。自动：使用所有可用核心；若 AQ_THREADS 或 OMP_NUM_THREADS 指定了更少，则按其设置。程序自行在 LibTorch 与 BLAS 库之间分配线程，因此任何设置都不会比单线程更慢。当前：%1</translation>
    </message>
    <message>
        <source>CPU threads: %1</source>
        <translation>CPU 线程：%1</translation>
    </message>
    <message>
        <source>Data-parallel calibration: each rank calibrates its share of the calibration windows and the ranks combine their gradients at every step, so the result is that of one process. On CUDA each rank takes its own device, starting at the selected one (cuda:k, cuda:k+1, …); on the CPU the ranks are processes that share the cores. The batch size must be a multiple of the ranks. The views show rank 0&apos;s data, and the status bar each rank&apos;s throughput.</source>
        <translation>数据并行校准：每个进程（rank）校准自己那一份校准窗口，各进程在每一步合并梯度，因此结果与单进程相同。在 CUDA 上每个进程使用各自的设备，从所选设备开始（cuda:k、cuda:k+1、…）；在 CPU 上各进程共享处理器核心。批大小必须是进程数的整数倍。各视图显示 0 号进程的数据，状态栏显示每个进程的吞吐量。</translation>
    </message>
    <message>
        <source>R&amp;anks:</source>
        <translation>进程数(&amp;A)：</translation>
    </message>
    <message numerus="yes">
        <source>Cannot run on %n ranks:</source>
        <translation>
            <numerusform>无法以 %n 个进程运行：</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>%1 with %n ranks</source>
        <translation>
            <numerusform>%1，%n 个进程</numerusform>
        </translation>
    </message>
    <message>
        <source>Another rank stopped:</source>
        <translation>另一个进程已停止：</translation>
    </message>
    <message>
        <source>%1. Rank 0 reports: %2</source>
        <translation>%1。0 号进程报告：%2</translation>
    </message>
</context>
<context>
    <name>aq::gui::ModelPanel</name>
    <message>
        <source>Hugging Face model folder (config.json + weights)</source>
        <translation>Hugging Face 模型文件夹（config.json + 权重）</translation>
    </message>
    <message>
        <source>Folder of a LLaMA, Mistral, Qwen2 or OPT checkpoint in Hugging Face layout. Type a path and press Enter, browse, pick a recent model, or drop a folder on the window.</source>
        <translation>Hugging Face 格式的 LLaMA、Mistral、Qwen2 或 OPT 检查点文件夹。可以输入路径后按回车、浏览、选择最近的模型，或把文件夹拖放到窗口上。</translation>
    </message>
    <message>
        <source>Browse…</source>
        <translation>浏览…</translation>
    </message>
    <message>
        <source>Choose a model folder</source>
        <translation>选择模型文件夹</translation>
    </message>
    <message>
        <source>Recent &amp;Models</source>
        <translation>最近的模型(&amp;M)</translation>
    </message>
    <message>
        <source>Recent</source>
        <translation>最近</translation>
    </message>
    <message>
        <source>&lt;i&gt;Reading %1…&lt;/i&gt;</source>
        <translation>&lt;i&gt;正在读取 %1…&lt;/i&gt;</translation>
    </message>
    <message>
        <source>&lt;span style=&apos;color:#b2182b&apos;&gt;Not a usable model folder.&lt;/span&gt;</source>
        <translation>&lt;span style=&apos;color:#b2182b&apos;&gt;不是可用的模型文件夹。&lt;/span&gt;</translation>
    </message>
    <message>
        <source>yes, %1 query heads share %2 key/value heads</source>
        <translation>是，%1 个查询头共享 %2 个键/值头</translation>
    </message>
    <message>
        <source>no (%1 heads)</source>
        <translation>否（%1 个头）</translation>
    </message>
    <message>
        <source>Architecture</source>
        <translation>架构</translation>
    </message>
    <message>
        <source>Parameters</source>
        <translation>参数量</translation>
    </message>
    <message>
        <source>Blocks</source>
        <translation>块</translation>
    </message>
    <message>
        <source>%1, hidden size %2, MLP %3</source>
        <translation>%1 个，隐藏维度 %2，MLP %3</translation>
    </message>
    <message>
        <source>Grouped-query attention</source>
        <translation>分组查询注意力</translation>
    </message>
    <message>
        <source>Tied embeddings</source>
        <translation>共享词嵌入</translation>
    </message>
    <message>
        <source>yes</source>
        <translation>是</translation>
    </message>
    <message>
        <source>no</source>
        <translation>否</translation>
    </message>
    <message>
        <source>Weights</source>
        <translation>权重</translation>
    </message>
    <message>
        <source>%1, %2 on disk</source>
        <translation>%1，磁盘占用 %2</translation>
    </message>
    <message>
        <source>Dtypes</source>
        <translation>数据类型</translation>
    </message>
    <message>
        <source>Max. sequence</source>
        <translation>最大序列长度</translation>
    </message>
    <message>
        <source>Tokenizer</source>
        <translation>分词器</translation>
    </message>
    <message>
        <source>(none)</source>
        <translation>（无）</translation>
    </message>
    <message>
        <source>&amp;Clear list</source>
        <translation>清空列表(&amp;C)</translation>
    </message>
</context>
<context>
    <name>aq::gui::OtherRanks</name>
    <message>
        <source>[rank %1] %2</source>
        <translation>[进程 %1] %2</translation>
    </message>
    <message>
        <source>rank %1 would run on %2, which does not exist. On CUDA each rank takes its own device from the selected one on: choose fewer ranks or an earlier device.</source>
        <translation>%1 号进程将运行在 %2 上，但该设备不存在。在 CUDA 上每个进程从所选设备起各占一个设备：请减少进程数或选择更靠前的设备。</translation>
    </message>
    <message>
        <source>no free port on the loopback interface for the ranks to meet at.</source>
        <translation>回环接口上没有可供各进程会合的空闲端口。</translation>
    </message>
    <message numerus="yes">
        <source>Started rank %1 (pid %2) on %3 with %n CPU thread(s)</source>
        <translation>
            <numerusform>已启动 %1 号进程（pid %2），设备 %3，%n 个 CPU 线程</numerusform>
        </translation>
    </message>
    <message>
        <source>Waiting for the other ranks to end…</source>
        <translation>正在等待其他进程结束…</translation>
    </message>
    <message>
        <source>The other ranks were stopped.</source>
        <translation>其他进程已被停止。</translation>
    </message>
    <message>
        <source>Another rank stopped: %1</source>
        <translation>另一个进程已停止：%1</translation>
    </message>
    <message>
        <source>Another rank stopped; ending the run…</source>
        <translation>另一个进程已停止；正在结束运行…</translation>
    </message>
    <message>
        <source>%1, saying: %2</source>
        <translation>%1，其输出：%2</translation>
    </message>
</context>
<context>
    <name>aq::gui::RankProcesses</name>
    <message>
        <source>internal error</source>
        <translation>内部错误</translation>
    </message>
    <message>
        <source>bad input</source>
        <translation>输入错误</translation>
    </message>
    <message>
        <source>out of memory</source>
        <translation>内存不足</translation>
    </message>
    <message>
        <source>another rank failed</source>
        <translation>另一个进程失败</translation>
    </message>
    <message>
        <source>interrupted</source>
        <translation>被中断</translation>
    </message>
    <message>
        <source>the command-line program named by AQ_CLI (%1) is not an executable file.</source>
        <translation>AQ_CLI 指定的命令行程序（%1）不是可执行文件。</translation>
    </message>
    <message>
        <source>the command-line program that runs the other ranks was not found at %1. It is installed next to AffineQuant Studio; set AQ_CLI to its path if it is elsewhere, or run one rank.</source>
        <translation>在 %1 未找到运行其他进程的命令行程序。它与 AffineQuant Studio 安装在同一目录；若在别处，请将 AQ_CLI 设为其路径，或只用一个进程运行。</translation>
    </message>
    <message>
        <source>the ranks of the previous run are still running.</source>
        <translation>上一次运行的进程仍在运行。</translation>
    </message>
    <message>
        <source>cannot write the configuration for the other ranks to %1: %2</source>
        <translation>无法将其他进程的配置写入 %1：%2</translation>
    </message>
    <message>
        <source>cannot start rank %1 (%2): %3</source>
        <translation>无法启动 %1 号进程（%2）：%3</translation>
    </message>
    <message>
        <source>%1; the system&apos;s out-of-memory killer sends it too</source>
        <translation>%1；系统的内存不足终止机制也会发送此信号</translation>
    </message>
    <message>
        <source>rank %1 (pid %2) was killed by signal %3</source>
        <translation>%1 号进程（pid %2）被信号 %3 终止</translation>
    </message>
    <message>
        <source>rank %1 (pid %2) was killed by signal %3 (%4)</source>
        <translation>%1 号进程（pid %2）被信号 %3 终止（%4）</translation>
    </message>
    <message>
        <source>rank %1 (pid %2) exited with status %3</source>
        <translation>%1 号进程（pid %2）以状态 %3 退出</translation>
    </message>
    <message>
        <source>rank %1 (pid %2) exited with status %3 (%4)</source>
        <translation>%1 号进程（pid %2）以状态 %3 退出（%4）</translation>
    </message>
</context>
<context>
    <name>aq::gui::RunController</name>
    <message>
        <source>rank 0 stopped waiting for the other ranks to join.</source>
        <translation>0 号进程已停止等待其他进程加入。</translation>
    </message>
</context>
<context>
    <name>aq::gui::RunFolders</name>
    <message numerus="yes">
        <source>the %n finished block(s) are kept in %1: Run &gt; Resume Interrupted Run continues from there.</source>
        <translation>
            <numerusform>%n 个已完成的块保留在 %1 中：“运行 &gt; 继续中断的运行”会从那里继续。</numerusform>
        </translation>
    </message>
    <message>
        <source>no block had finished, so its folder was removed.</source>
        <translation>没有任何块完成，因此已删除其文件夹。</translation>
    </message>
    <message>
        <source>no model was written as complete in %1.</source>
        <translation>%1 中没有写入任何标记为完整的模型。</translation>
    </message>
</context>
<context>
    <name>aq::gui::RunStatus</name>
    <message>
        <source>Ready</source>
        <translation>就绪</translation>
    </message>
    <message>
        <source>Calibration windows per second of each rank&apos;s own work in the last epoch (time spent waiting for the other ranks left out)</source>
        <translation>上一轮中每个进程自身计算的每秒校准窗口数（不含等待其他进程的时间）</translation>
    </message>
    <message>
        <source>Block %1/%2</source>
        <translation>块 %1/%2</translation>
    </message>
    <message>
        <source>Epoch %1/%2</source>
        <translation>轮 %1/%2</translation>
    </message>
    <message>
        <source>Loss %1</source>
        <translation>损失 %1</translation>
    </message>
    <message>
        <source>ETA %1</source>
        <translation>剩余 %1</translation>
    </message>
    <message>
        <source>%1 elapsed</source>
        <translation>已用 %1</translation>
    </message>
    <message>
        <source>Loading the model and the calibration text</source>
        <translation>正在加载模型和校准文本</translation>
    </message>
    <message>
        <source>Calibrating</source>
        <translation>正在校准</translation>
    </message>
    <message>
        <source>Computing the full-precision targets</source>
        <translation>正在计算全精度目标</translation>
    </message>
    <message>
        <source>Training the transforms, clipping bounds and shifts</source>
        <translation>正在训练变换、裁剪边界和平移</translation>
    </message>
    <message>
        <source>Merging the transforms into the weights</source>
        <translation>正在把变换合并到权重中</translation>
    </message>
    <message>
        <source>Replaying a finished block</source>
        <translation>正在重放已完成的块</translation>
    </message>
    <message>
        <source>Writing the quantized model</source>
        <translation>正在写出量化模型</translation>
    </message>
    <message>
        <source>Evaluating: perplexity of the full-precision, round-to-nearest and quantized models</source>
        <translation>正在评估：全精度、就近取整和量化模型的困惑度</translation>
    </message>
    <message>
        <source>Done</source>
        <translation>完成</translation>
    </message>
    <message>
        <source>Ranks: %1 windows/s</source>
        <translation>各进程：%1 窗口/秒</translation>
    </message>
    <message numerus="yes">
        <source>Ranks: %n</source>
        <translation>
            <numerusform>进程数：%n</numerusform>
        </translation>
    </message>
    <message>
        <source>Running</source>
        <translation>运行中</translation>
    </message>
    <message>
        <source>Block %1/%2 done in %3 s: loss %4 → %5</source>
        <translation>块 %1/%2 完成，用时 %3 秒：损失 %4 → %5</translation>
    </message>
    <message>
        <source> (per-channel fallback: %1)</source>
        <translation>（退回按通道量化：%1）</translation>
    </message>
    <message>
        <source>Recovered from %1</source>
        <translation>已从 %1 中恢复</translation>
    </message>
    <message>
        <source>ETA ~%1</source>
        <translation>预计剩余 ~%1</translation>
    </message>
    <message>
        <source>Cancelling…</source>
        <translation>正在取消…</translation>
    </message>
    <message>
        <source>Finished</source>
        <translation>已完成</translation>
    </message>
    <message>
        <source>Failed</source>
        <translation>失败</translation>
    </message>
    <message>
        <source>Cancelled</source>
        <translation>已取消</translation>
    </message>
</context>
<context>
    <name>aq::gui::SettingNames</name>
    <message>
        <source>“%1”</source>
        <translation>“%1”</translation>
    </message>
    <message>
        <source>on</source>
        <translation>开</translation>
    </message>
    <message>
        <source>off</source>
        <translation>关</translation>
    </message>
    <message>
        <source>(choose a format)</source>
        <translation>（请选择一种格式）</translation>
    </message>
    <message>
        <source>%1 as %2 with %3</source>
        <translation>%1 为 %2，并勾选 %3</translation>
    </message>
    <message>
        <source>%1 as %2</source>
        <translation>%1 为 %2</translation>
    </message>
    <message>
        <source>%1 off</source>
        <translation>%1 关闭</translation>
    </message>
    <message>
        <source>%1 %2</source>
        <translation>%1 %2</translation>
    </message>
</context>
<context>
    <name>aq::widgets::ActivationView</name>
    <message>
        <source>channel</source>
        <translation>通道</translation>
    </message>
    <message>
        <source>abs-max over calibration tokens</source>
        <translation>校准 token 上的绝对值最大值</translation>
    </message>
    <message>
        <source>before the transform</source>
        <translation>变换前</translation>
    </message>
    <message>
        <source>after the transform</source>
        <translation>变换后</translation>
    </message>
    <message>
        <source>outlier channel (before)</source>
        <translation>离群通道（变换前）</translation>
    </message>
    <message>
        <source>&amp;Logarithmic axis</source>
        <translation>对数坐标(&amp;L)</translation>
    </message>
    <message>
        <source>Block:</source>
        <translation>块：</translation>
    </message>
    <message>
        <source>No activation profile yet: one arrives per block and site once the block is calibrated.</source>
        <translation>还没有激活统计：每个块校准完成后，会为每个位置提供一份。</translation>
    </message>
    <message>
        <source>No profile for this block and site.</source>
        <translation>此块和位置没有激活统计。</translation>
    </message>
    <message>
        <source>Outlier channels (abs-max above %1x the median): %2 before, %3 after. Largest / median: %4 before, %5 after.</source>
        <translation>离群通道（绝对值最大值超过中位数的 %1 倍）：变换前 %2 个，变换后 %3 个。最大值 / 中位数：变换前 %4，变换后 %5。</translation>
    </message>
    <message>
        <source>outlier threshold (before)</source>
        <translation>离群阈值（变换前）</translation>
    </message>
    <message>
        <source>outlier threshold (after)</source>
        <translation>离群阈值（变换后）</translation>
    </message>
    <message>
        <source>outlier channel (after)</source>
        <translation>离群通道（变换后）</translation>
    </message>
    <message>
        <source>Where the activations are measured: the input of the named linear layers (as in the Weights tab). The input of down_proj (fc2) is not transformed: its &quot;after&quot; is the merged quantized block&apos;s.</source>
        <translation>测量激活的位置：所列线性层的输入（名称与“权重”页相同）。down_proj（fc2）的输入不做变换：其“变换后”取自合并后的量化块。</translation>
    </message>
    <message>
        <source>× median</source>
        <translation>× 中位数</translation>
    </message>
    <message>
        <source>A channel is an outlier when its abs-max exceeds this multiple of the median abs-max over the channels of its block and site.</source>
        <translation>通道的绝对值最大值超过其所在块和位置各通道绝对值最大值中位数的这个倍数时，即视为离群通道。</translation>
    </message>
    <message>
        <source>Outlier channels of every block and site. Click a column header to sort, a row to show the channel in the plot.</source>
        <translation>所有块和位置的离群通道。点击列标题排序，点击一行在图中显示该通道。</translation>
    </message>
    <message>
        <source>Input of:</source>
        <translation>输入位置：</translation>
    </message>
    <message>
        <source>Outlier &amp;threshold:</source>
        <translation>离群阈值(&amp;T)：</translation>
    </message>
    <message>
        <source>Outlier channels of all blocks and sites are listed here once profiles arrive.</source>
        <translation>激活统计到达后，这里会列出所有块和位置的离群通道。</translation>
    </message>
    <message>
        <source>All blocks and sites (%1 profiles): %2 outlier channels before the transforms, %3 after (abs-max above %4× the median of their site). Click a row to show it in the plot.</source>
        <translation>所有块和位置（%1 份统计）：变换前 %2 个离群通道，变换后 %3 个（绝对值最大值超过所在位置中位数的 %4 倍）。点击一行在图中显示。</translation>
    </message>
    <message>
        <source>none</source>
        <translation>无</translation>
    </message>
    <message>
        <source>%1 (%2× the median)</source>
        <translation>%1（中位数的 %2 倍）</translation>
    </message>
    <message>
        <source>Block %1, input of %2, channel %3
before: %4
after: %5</source>
        <translation>块 %1，%2 的输入，通道 %3
变换前：%4
变换后：%5</translation>
    </message>
    <message>
        <source>Channel %1 (dotted line): %2 before, %3 after.</source>
        <translation>通道 %1（点线）：变换前 %2，变换后 %3。</translation>
    </message>
</context>
<context>
    <name>aq::widgets::BlockPicker</name>
    <message>
        <source>Transformer block.</source>
        <translation>Transformer 块。</translation>
    </message>
</context>
<context>
    <name>aq::widgets::LossCurveView</name>
    <message>
        <source>step within block</source>
        <translation>块内步数</translation>
    </message>
    <message>
        <source>block output loss (MSE)</source>
        <translation>块输出损失（MSE）</translation>
    </message>
    <message>
        <source>&amp;Logarithmic loss axis</source>
        <translation>损失使用对数坐标(&amp;L)</translation>
    </message>
    <message>
        <source>Show the loss on a base-10 logarithmic scale; losses of different blocks often differ by orders of magnitude.</source>
        <translation>以 10 为底的对数坐标显示损失；不同块的损失常常相差几个数量级。</translation>
    </message>
    <message>
        <source>&amp;Fit</source>
        <translation>适应(&amp;F)</translation>
    </message>
    <message>
        <source>Rescale the axes to all data and follow new points again (double-click the plot does the same).</source>
        <translation>将坐标轴缩放到全部数据并重新跟随新数据点（双击图表效果相同）。</translation>
    </message>
    <message>
        <source>block %1</source>
        <translation>块 %1</translation>
    </message>
    <message>
        <source>block %1 (%2)</source>
        <translation>块 %1（%2）</translation>
    </message>
    <message>
        <source>dashed: %1</source>
        <translation>虚线：%1</translation>
    </message>
    <message>
        <source>block %1, step %2: loss %3</source>
        <translation>块 %1，第 %2 步：损失 %3</translation>
    </message>
    <message>
        <source>%4 — block %1, step %2: loss %3</source>
        <translation>%4 — 块 %1，第 %2 步：损失 %3</translation>
    </message>
    <message>
        <source>comparison</source>
        <translation>对比</translation>
    </message>
    <message>
        <source>Press Run to calibrate; each block&apos;s loss appears here</source>
        <translation>点击“运行”开始校准；每个块的损失会显示在这里</translation>
    </message>
</context>
<context>
    <name>aq::widgets::MarginView</name>
    <message>
        <source>row i</source>
        <translation>行 i</translation>
    </message>
    <message>
        <source>margin |a_ii| - sum |a_ij|</source>
        <translation>裕度 |a_ii| - sum |a_ij|</translation>
    </message>
    <message>
        <source>strictly dominant row</source>
        <translation>严格对角占优的行</translation>
    </message>
    <message>
        <source>row with margin &lt;= 0</source>
        <translation>裕度 &lt;= 0 的行</translation>
    </message>
    <message>
        <source>&lt;p&gt;A row&apos;s &lt;b&gt;margin&lt;/b&gt; is |a&lt;sub&gt;ii&lt;/sub&gt;| &amp;minus; &amp;Sigma;&lt;sub&gt;j&amp;ne;i&lt;/sub&gt; |a&lt;sub&gt;ij&lt;/sub&gt;|. If every margin is positive the matrix is &lt;b&gt;strictly diagonally dominant&lt;/b&gt;, and by the Levy&amp;ndash;Desplanques theorem it is then invertible: for A x = 0, take the row i where |x&lt;sub&gt;i&lt;/sub&gt;| is largest; |a&lt;sub&gt;ii&lt;/sub&gt;| |x&lt;sub&gt;i&lt;/sub&gt;| &amp;le; &amp;Sigma;&lt;sub&gt;j&amp;ne;i&lt;/sub&gt; |a&lt;sub&gt;ij&lt;/sub&gt;| |x&lt;sub&gt;j&lt;/sub&gt;| &amp;le; (&amp;Sigma;&lt;sub&gt;j&amp;ne;i&lt;/sub&gt; |a&lt;sub&gt;ij&lt;/sub&gt;|) |x&lt;sub&gt;i&lt;/sub&gt;| forces x&lt;sub&gt;i&lt;/sub&gt; = 0, so x = 0.&lt;/p&gt;&lt;p&gt;Dominance is &lt;b&gt;sufficient, not necessary&lt;/b&gt;: a matrix with red rows can still be perfectly invertible and well conditioned. The gradual mask and a small stability factor keep the learned transforms close to dominant, which is why AffineQuant can invert them safely.&lt;/p&gt;</source>
        <translation>&lt;p&gt;一行的&lt;b&gt;裕度&lt;/b&gt;是 |a&lt;sub&gt;ii&lt;/sub&gt;| &amp;minus; &amp;Sigma;&lt;sub&gt;j&amp;ne;i&lt;/sub&gt; |a&lt;sub&gt;ij&lt;/sub&gt;|。若每一行的裕度都为正，矩阵就是&lt;b&gt;严格对角占优&lt;/b&gt;的，根据 Levy&amp;ndash;Desplanques 定理它一定可逆：设 A x = 0，取 |x&lt;sub&gt;i&lt;/sub&gt;| 最大的那一行 i，则 |a&lt;sub&gt;ii&lt;/sub&gt;| |x&lt;sub&gt;i&lt;/sub&gt;| &amp;le; &amp;Sigma;&lt;sub&gt;j&amp;ne;i&lt;/sub&gt; |a&lt;sub&gt;ij&lt;/sub&gt;| |x&lt;sub&gt;j&lt;/sub&gt;| &amp;le; (&amp;Sigma;&lt;sub&gt;j&amp;ne;i&lt;/sub&gt; |a&lt;sub&gt;ij&lt;/sub&gt;|) |x&lt;sub&gt;i&lt;/sub&gt;|，迫使 x&lt;sub&gt;i&lt;/sub&gt; = 0，从而 x = 0。&lt;/p&gt;&lt;p&gt;对角占优是&lt;b&gt;充分条件而非必要条件&lt;/b&gt;：含有红色行的矩阵仍可能完全可逆且条件良好。渐进掩码和较小的稳定因子让学到的变换保持接近对角占优，这正是 AffineQuant 能够安全求逆的原因。&lt;/p&gt;</translation>
    </message>
    <message>
        <source>%1 — %2 of %3 rows strictly dominant</source>
        <translation>%1 — %3 行中有 %2 行严格对角占优</translation>
    </message>
    <message>
        <source>No matrix selected: row margins appear with the first epoch of a run with matrix transforms.</source>
        <translation>未选择矩阵：使用矩阵变换的运行在第一轮结束后会显示行裕度。</translation>
    </message>
    <message>
        <source>Transformer block of the matrix whose row margins are shown.</source>
        <translation>显示其行裕度的矩阵所在的 Transformer 块。</translation>
    </message>
    <message>
        <source>Which learned transform: out (the value/output per-head matrices), qkt (the query/key per-head matrices), qkv and fc1 (the matrices after the norms).</source>
        <translation>哪一个学习到的变换：out（value/output 的逐头矩阵）、qkt（query/key 的逐头矩阵）、qkv 和 fc1（归一化之后的矩阵）。</translation>
    </message>
    <message>
        <source>Epoch at whose end the matrix was taken.</source>
        <translation>在该轮结束时取得的矩阵。</translation>
    </message>
    <message>
        <source>&amp;Follow the newest epoch</source>
        <translation>跟随最新一轮(&amp;F)</translation>
    </message>
    <message>
        <source>Show each new epoch&apos;s matrix of the selected transform as it arrives. Picking a block or an epoch by hand, or clicking a point of the lower plot, stops following.</source>
        <translation>所选变换每完成一轮就显示该轮的矩阵。手动选择块或轮，或点击下方图中的点，会停止跟随。</translation>
    </message>
    <message>
        <source>transformer block (each block&apos;s epochs from left to right)</source>
        <translation>Transformer 块（每块内各轮从左到右）</translation>
    </message>
    <message>
        <source>smallest row margin</source>
        <translation>最小行裕度</translation>
    </message>
    <message>
        <source>Block:</source>
        <translation>块：</translation>
    </message>
    <message>
        <source>Transform:</source>
        <translation>变换：</translation>
    </message>
    <message>
        <source>Epoch:</source>
        <translation>轮：</translation>
    </message>
    <message>
        <source>No margins of %1 in block %2.</source>
        <translation>块 %2 中没有 %1 的裕度。</translation>
    </message>
    <message>
        <source>Block %1, %2, epoch %3: only the smallest row margin, %4, is known (a reopened run keeps each epoch&apos;s smallest margin, not every row&apos;s).</source>
        <translation>块 %1，%2，第 %3 轮：只知道最小行裕度 %4（重新打开的运行只保存每轮的最小裕度，而不是每一行的裕度）。</translation>
    </message>
    <message>
        <source>block %1, %2, epoch %3 (of %4): smallest row margin %5</source>
        <translation>块 %1，%2，第 %3 轮（共 %4 轮）：最小行裕度 %5</translation>
    </message>
</context>
<context>
    <name>aq::widgets::MaskScheduleView</name>
    <message>
        <source>epoch</source>
        <translation>轮</translation>
    </message>
    <message>
        <source>band width N_e</source>
        <translation>带宽 N_e</translation>
    </message>
    <message>
        <source>sf x off-diagonals per row</source>
        <translation>sf × 每行非对角元素数</translation>
    </message>
    <message>
        <source>diagonals trained (N_e)</source>
        <translation>训练的对角线数（N_e）</translation>
    </message>
    <message>
        <source>off-diagonal share of a row</source>
        <translation>一行中非对角部分的占比</translation>
    </message>
    <message>
        <source>Epoch e trains the diagonals with |i - j| &lt; N_e; off-diagonal entries are multiplied by the stability factor. The dashed line marks where the off-diagonal share of a row could exceed its diagonal (if the entries were of equal size): beyond it, diagonal dominance is no longer guaranteed by the mask alone.</source>
        <translation>第 e 轮训练满足 |i - j| &lt; N_e 的对角线；非对角元素乘以稳定因子。虚线标出一行的非对角部分可能超过其对角元素的位置（假设各元素大小相同）：超过后，仅靠掩码已无法保证对角占优。</translation>
    </message>
    <message>
        <source>0 epochs: the initial transforms are merged untrained.</source>
        <translation>0 轮：不训练，直接合并初始变换。</translation>
    </message>
    <message>
        <source>d = %1, %2 epoch(s), stability factor %3: N_e grows from 1 to %4.</source>
        <translation>d = %1，%2 轮，稳定因子 %3：N_e 从 1 增长到 %4。</translation>
    </message>
    <message>
        <source>Per-head blocks (h = %1): N&apos;_e = %2, …</source>
        <translation>按头分块（h = %1）：N&apos;_e = %2, …</translation>
    </message>
</context>
<context>
    <name>aq::widgets::MatrixHeatmapView</name>
    <message>
        <source>column</source>
        <translation>列</translation>
    </message>
    <message>
        <source>row</source>
        <translation>行</translation>
    </message>
    <message>
        <source>masked out</source>
        <translation>被掩码屏蔽</translation>
    </message>
    <message>
        <source>Transformer block whose matrix is shown.</source>
        <translation>显示其矩阵的 Transformer 块。</translation>
    </message>
    <message>
        <source>Which learned transform of the block: qkv (before q/k/v projections), fc1 (before the MLP), out (v to o projection, per head), qkt (between queries and keys).</source>
        <translation>块中的哪个学到的变换：qkv（q/k/v 投影之前）、fc1（MLP 之前）、out（v 到 o 投影，按头）、qkt（查询与键之间）。</translation>
    </message>
    <message>
        <source>Replay the matrix epoch by epoch. At the right end the view follows new epochs.</source>
        <translation>逐轮回放矩阵。滑块位于最右端时，视图会跟随新的训练轮。</translation>
    </message>
    <message>
        <source>Shade &amp;masked entries</source>
        <translation>遮暗被屏蔽的元素(&amp;M)</translation>
    </message>
    <message>
        <source>Grey out the entries outside the gradual mask&apos;s band: they are held at zero this epoch.</source>
        <translation>将渐进掩码带外的元素显示为灰色：它们在本轮中保持为零。</translation>
    </message>
    <message>
        <source>&amp;Log |a|</source>
        <translation>对数 |a|(&amp;L)</translation>
    </message>
    <message>
        <source>Colour by the magnitude on a logarithmic scale, so that small off-diagonal entries become visible next to the diagonal.</source>
        <translation>按数值大小的对数着色，使较小的非对角元素在对角线旁边也能看清。</translation>
    </message>
    <message>
        <source>Block:</source>
        <translation>块：</translation>
    </message>
    <message>
        <source>Transform:</source>
        <translation>变换：</translation>
    </message>
    <message>
        <source>Epoch:</source>
        <translation>轮：</translation>
    </message>
    <message>
        <source>No matrix yet: snapshots arrive at the end of each epoch of a run with matrix transforms.</source>
        <translation>还没有矩阵：使用矩阵变换的运行会在每轮结束时提供快照。</translation>
    </message>
    <message>
        <source>No snapshot of this matrix yet.</source>
        <translation>此矩阵还没有快照。</translation>
    </message>
    <message>
        <source>|a|</source>
        <translation>|a|</translation>
    </message>
    <message>
        <source>mean |a| per tile</source>
        <translation>每块的平均 |a|</translation>
    </message>
    <message>
        <source>a</source>
        <translation>a</translation>
    </message>
    <message>
        <source>epoch %1 (%2 / %3)</source>
        <translation>第 %1 轮（%2 / %3）</translation>
    </message>
    <message>
        <source>block %1, %2: %3 x %4</source>
        <translation>块 %1，%2：%3 × %4</translation>
    </message>
    <message>
        <source> (shown as %1 x %2 tiles of %3 x %3)</source>
        <translation>（显示为 %1 × %2 个 %3 × %3 的小块）</translation>
    </message>
    <message numerus="yes">
        <source>; mask band: about %n diagonal(s) on each side of the main one</source>
        <translation>
            <numerusform>；掩码带：主对角线两侧各约 %n 条对角线</numerusform>
        </translation>
    </message>
    <message numerus="yes">
        <source>; mask band: %n diagonal(s) on each side of the main one</source>
        <translation>
            <numerusform>；掩码带：主对角线两侧各 %n 条对角线</numerusform>
        </translation>
    </message>
    <message>
        <source>rows %1-%2, columns %3-%4: mean |a| %5</source>
        <translation>第 %1-%2 行，第 %3-%4 列：平均 |a| %5</translation>
    </message>
    <message>
        <source>a[%1, %2] = %3</source>
        <translation>a[%1, %2] = %3</translation>
    </message>
    <message>
        <source>, mask %1</source>
        <translation>，掩码 %1</translation>
    </message>
    <message>
        <source>matrix entries</source>
        <translation>矩阵元素</translation>
    </message>
</context>
<context>
    <name>aq::widgets::MessageBar</name>
    <message>
        <source>Dismiss this message</source>
        <translation>关闭此消息</translation>
    </message>
</context>
<context>
    <name>aq::widgets::OutlierTableModel</name>
    <message>
        <source>%1×</source>
        <translation>%1×</translation>
    </message>
    <message>
        <source>Input of %1 (site &quot;%2&quot;).</source>
        <translation>%1 的输入（位置“%2”）。</translation>
    </message>
    <message>
        <source>Block</source>
        <translation>块</translation>
    </message>
    <message>
        <source>Input of</source>
        <translation>输入位置</translation>
    </message>
    <message>
        <source>Channel</source>
        <translation>通道</translation>
    </message>
    <message>
        <source>Abs-max before</source>
        <translation>变换前绝对值最大值</translation>
    </message>
    <message>
        <source>Abs-max after</source>
        <translation>变换后绝对值最大值</translation>
    </message>
    <message>
        <source>Before / median</source>
        <translation>变换前 / 中位数</translation>
    </message>
    <message>
        <source>After / median</source>
        <translation>变换后 / 中位数</translation>
    </message>
    <message>
        <source>Largest |activation| of the channel over the calibration tokens, on the full-precision model, before the transform.</source>
        <translation>该通道在校准 token 上的最大 |激活值|，取自全精度模型，变换前。</translation>
    </message>
    <message>
        <source>The same after the transform, on the merged quantized block.</source>
        <translation>变换后的同一数值，取自合并后的量化块。</translation>
    </message>
    <message>
        <source>The channel&apos;s abs-max divided by the median abs-max over all channels of the same block and site (before, respectively after). Values above the threshold are highlighted.</source>
        <translation>该通道的绝对值最大值除以同一块和位置所有通道绝对值最大值的中位数（分别对应变换前和变换后）。超过阈值的数值会突出显示。</translation>
    </message>
</context>
<context>
    <name>aq::widgets::PlotExporter</name>
    <message>
        <source>Unknown image type &quot;%1&quot;: choose a file name ending in .png, .svg or .pdf.</source>
        <translation>未知的图像类型“%1”：请选择以 .png、.svg 或 .pdf 结尾的文件名。</translation>
    </message>
    <message>
        <source>Could not write %1. Check that the folder exists, is writable and has free space.</source>
        <translation>无法写入 %1。请检查文件夹是否存在、可写且有剩余空间。</translation>
    </message>
    <message>
        <source>Could not write %1: %2</source>
        <translation>无法写入 %1：%2</translation>
    </message>
    <message>
        <source>Save image as…</source>
        <translation>图像另存为…</translation>
    </message>
    <message>
        <source>Copy image</source>
        <translation>复制图像</translation>
    </message>
    <message>
        <source>Save data as CSV…</source>
        <translation>将数据保存为 CSV…</translation>
    </message>
    <message>
        <source>PNG image (*.png)</source>
        <translation>PNG 图像 (*.png)</translation>
    </message>
    <message>
        <source>Save image</source>
        <translation>保存图像</translation>
    </message>
    <message>
        <source>PNG image (*.png);;SVG image (*.svg);;PDF document (*.pdf)</source>
        <translation>PNG 图像 (*.png);;SVG 图像 (*.svg);;PDF 文档 (*.pdf)</translation>
    </message>
    <message>
        <source>Image not saved</source>
        <translation>图像未保存</translation>
    </message>
    <message>
        <source>Save data</source>
        <translation>保存数据</translation>
    </message>
    <message>
        <source>CSV file (*.csv)</source>
        <translation>CSV 文件 (*.csv)</translation>
    </message>
    <message>
        <source>Data not saved</source>
        <translation>数据未保存</translation>
    </message>
</context>
<context>
    <name>aq::widgets::ResultsView</name>
    <message>
        <source>Run</source>
        <translation>运行</translation>
    </message>
    <message>
        <source>Method</source>
        <translation>方法</translation>
    </message>
    <message>
        <source>Preset</source>
        <translation>预设</translation>
    </message>
    <message>
        <source>FP perplexity</source>
        <translation>全精度困惑度</translation>
    </message>
    <message>
        <source>RTN perplexity</source>
        <translation>RTN 困惑度</translation>
    </message>
    <message>
        <source>Quantized perplexity</source>
        <translation>量化后困惑度</translation>
    </message>
    <message>
        <source>Perplexities on the evaluation text: FP is the unquantized model, RTN plain round-to-nearest quantization with the same bits, Quantized the calibrated model. Lower is better.</source>
        <translation>评估文本上的困惑度：全精度是未量化的模型，RTN 是相同位数的直接就近取整量化，量化后是校准后的模型。越低越好。</translation>
    </message>
    <message>
        <source>&amp;Compare loss curves</source>
        <translation>对比损失曲线(&amp;C)</translation>
    </message>
    <message>
        <source>Draw the selected run&apos;s loss curves dashed under the current ones.</source>
        <translation>把所选运行的损失曲线以虚线画在当前曲线之下。</translation>
    </message>
    <message>
        <source>Clear comparison</source>
        <translation>清除对比</translation>
    </message>
    <message>
        <source>&amp;Forget run</source>
        <translation>移除运行(&amp;F)</translation>
    </message>
    <message>
        <source>Remove the selected run from this table. Its files on disk are kept.</source>
        <translation>从表中移除所选运行。磁盘上的文件会保留。</translation>
    </message>
    <message>
        <source>Bits</source>
        <translation>位宽</translation>
    </message>
    <message>
        <source>Group</source>
        <translation>分组</translation>
    </message>
    <message>
        <source>Samples × length</source>
        <translation>样本数 × 长度</translation>
    </message>
    <message>
        <source>Epochs</source>
        <translation>训练轮数</translation>
    </message>
    <message>
        <source>Evaluation</source>
        <translation>评估</translation>
    </message>
    <message>
        <source>Duration</source>
        <translation>用时</translation>
    </message>
    <message>
        <source>The preset the configuration started from, and the settings changed from it.</source>
        <translation>配置所基于的预设，以及相对它修改过的设置。</translation>
    </message>
    <message>
        <source>Weight and activation bits (W4A16: 4-bit weights, activations not quantized).</source>
        <translation>权重和激活的位宽（W4A16：4 位权重，激活不量化）。</translation>
    </message>
    <message>
        <source>Weights per quantization group; per channel: one group per output row.</source>
        <translation>每个量化分组的权重数；按通道：每个输出行一个分组。</translation>
    </message>
    <message>
        <source>Calibration samples × tokens per sample.</source>
        <translation>校准样本数 × 每个样本的词元数。</translation>
    </message>
    <message>
        <source>Training epochs per block (0: round-to-nearest, no training).</source>
        <translation>每个块的训练轮数（0：就近取整，不训练）。</translation>
    </message>
    <message>
        <source>Evaluation windows × tokens per window. Perplexities are comparable only between runs evaluated on the same windows of the same text.</source>
        <translation>评估窗口数 × 每个窗口的词元数。只有在同一文本的相同窗口上评估的运行之间，困惑度才可比较。</translation>
    </message>
    <message>
        <source>Wall time of the run, evaluation included.</source>
        <translation>运行的实际用时（含评估）。</translation>
    </message>
    <message>
        <source>These runs were evaluated on different windows (see Evaluation): compare their perplexities only between runs with the same evaluation.</source>
        <translation>这些运行是在不同的窗口上评估的（见“评估”列）：只在评估相同的运行之间比较困惑度。</translation>
    </message>
    <message>
        <source>Changed from the preset %1:
%2</source>
        <translation>相对预设 %1 的修改：
%2</translation>
    </message>
    <message>
        <source>per channel</source>
        <translation>按通道</translation>
    </message>
    <message numerus="yes">
        <source>%n window(s) of %1 tokens</source>
        <translation>
            <numerusform>%n 个窗口，每个 %1 个词元</numerusform>
        </translation>
    </message>
    <message>
        <source>every window of %1 tokens</source>
        <translation>全部窗口，每个 %1 个词元</translation>
    </message>
    <message>
        <source>%1 of %2</source>
        <translation>%2 的 %1</translation>
    </message>
    <message>
        <source>Evaluated on %1</source>
        <translation>评估于 %1</translation>
    </message>
    <message>
        <source>%1 (edited: %2)</source>
        <translation>%1（已修改：%2）</translation>
    </message>
    <message>
        <source>, </source>
        <translation>，</translation>
    </message>
    <message>
        <source>all × %1</source>
        <translation>全部 × %1</translation>
    </message>
</context>
<context>
    <name>aq::widgets::TeachingView</name>
    <message>
        <source>Number of epochs E of the schedule: the band reaches the whole matrix at the last epoch.</source>
        <translation>进度的总轮数 E：掩码带在最后一轮覆盖整个矩阵。</translation>
    </message>
    <message>
        <source>Epoch e: the mask keeps the diagonals with |i - j| &lt; N_e.</source>
        <translation>第 e 轮：掩码保留满足 |i - j| &lt; N_e 的对角线。</translation>
    </message>
    <message>
        <source>Stability factor: off-diagonal mask entries inside the band are set to it.</source>
        <translation>稳定因子：掩码带内的非对角掩码元素取此值。</translation>
    </message>
    <message>
        <source>Seed of the random matrix S.</source>
        <translation>随机矩阵 S 的种子。</translation>
    </message>
    <message>
        <source>Epochs E:</source>
        <translation>总轮数 E：</translation>
    </message>
    <message>
        <source>Seed of S:</source>
        <translation>S 的种子：</translation>
    </message>
    <message>
        <source>Epoch:</source>
        <translation>轮：</translation>
    </message>
    <message>
        <source>Stability factor:</source>
        <translation>稳定因子：</translation>
    </message>
    <message>
        <source>Masked matrix A = S ⊙ M and row margins</source>
        <translation>掩码后的矩阵 A = S ⊙ M 与行裕度</translation>
    </message>
    <message>
        <source>Inverse A⁻¹</source>
        <translation>逆矩阵 A⁻¹</translation>
    </message>
    <message>
        <source>%1 of %2</source>
        <translation>%1 / %2</translation>
    </message>
    <message>
        <source>Band width N_e = %1 of %2 (diagonals with |i - j| &lt; %1 are trained).</source>
        <translation>带宽 N_e = %1 / %2（训练满足 |i - j| &lt; %1 的对角线）。</translation>
    </message>
    <message>
        <source>Strictly diagonally dominant: yes (smallest margin %1).</source>
        <translation>严格对角占优：是（最小裕度 %1）。</translation>
    </message>
    <message numerus="yes">
        <source>Strictly diagonally dominant: no (%n row(s) with margin &lt;= 0).</source>
        <translation>
            <numerusform>严格对角占优：否（%n 行的裕度 &lt;= 0）。</numerusform>
        </translation>
    </message>
    <message>
        <source>Invertible: yes (determinant %1, condition estimate ||A||₁·||A⁻¹||₁ = %2).</source>
        <translation>可逆：是（行列式 %1，条件数估计 ||A||₁·||A⁻¹||₁ = %2）。</translation>
    </message>
    <message>
        <source>Invertible: no (a pivot vanished in Gaussian elimination: the matrix is singular).</source>
        <translation>可逆：否（高斯消元中出现零主元：矩阵奇异）。</translation>
    </message>
    <message>
        <source>margin</source>
        <translation>裕度</translation>
    </message>
    <message>
        <source>S[%1,%2] = %3, mask %4</source>
        <translation>S[%1,%2] = %3，掩码 %4</translation>
    </message>
    <message>
        <source>Random matrix S</source>
        <translation>随机矩阵 S</translation>
    </message>
    <message>
        <source>Where the matrix comes from. A learned matrix is added once one has been loaded.</source>
        <translation>矩阵的来源。载入学习到的矩阵后会添加到此列表。</translation>
    </message>
    <message>
        <source>&amp;Load learned matrix</source>
        <translation>载入学习到的矩阵(&amp;L)</translation>
    </message>
    <message>
        <source>Load the matrix selected on the Matrices tab (its block and transform, every stored epoch) from the current or a reopened run.</source>
        <translation>从当前运行或重新打开的运行中载入“矩阵”标签页上选中的矩阵（其块与变换，以及存储的每一轮）。</translation>
    </message>
    <message>
        <source>&amp;Play</source>
        <translation>播放(&amp;P)</translation>
    </message>
    <message>
        <source>Step through the epochs of the mask schedule (of a learned matrix: its stored epochs) one after another.</source>
        <translation>依次播放掩码进度的各轮（学习到的矩阵：其存储的各轮）。</translation>
    </message>
    <message>
        <source>The tables, the discs and the eigenvalues describe the leading k x k block A[0..k-1, 0..k-1]: a learned matrix has up to 128 rows, too many to read in a table. Set k to the full size to see every disc.</source>
        <translation>表格、圆盘和特征值描述前 k x k 主子块 A[0..k-1, 0..k-1]：学习到的矩阵最多有 128 行，在表格中难以阅读。将 k 设为完整大小即可看到所有圆盘。</translation>
    </message>
    <message>
        <source>Show &amp;eigenvalues</source>
        <translation>显示特征值(&amp;E)</translation>
    </message>
    <message>
        <source>Every eigenvalue lies in the union of the discs (Gershgorin&apos;s theorem).</source>
        <translation>每个特征值都位于这些圆盘的并集中（Gershgorin 圆盘定理）。</translation>
    </message>
    <message>
        <source>Matrix:</source>
        <translation>矩阵：</translation>
    </message>
    <message>
        <source>Leading block k:</source>
        <translation>主子块 k：</translation>
    </message>
    <message>
        <source>real part</source>
        <translation>实部</translation>
    </message>
    <message>
        <source>imaginary part</source>
        <translation>虚部</translation>
    </message>
    <message>
        <source>Gershgorin discs</source>
        <translation>Gershgorin 圆盘</translation>
    </message>
    <message>
        <source>Row i gives a disc centred at a_ii with radius Σ_{j≠i} |a_ij|, and every eigenvalue lies in their union. A row is strictly dominant when its disc leaves out 0; if no disc contains 0, A is invertible (Levy–Desplanques). Red marks rows that are not dominant (a matrix can lose dominance and stay invertible); grey cells are masked out, tinted ones are scaled by the stability factor.</source>
        <translation>第 i 行给出一个以 a_ii 为圆心、半径为 Σ_{j≠i} |a_ij| 的圆盘，每个特征值都位于这些圆盘的并集中。圆盘不含 0 时该行严格对角占优；若没有圆盘包含 0，则 A 可逆（Levy–Desplanques 定理）。红色表示非对角占优的行（矩阵失去对角占优后仍可能可逆）；灰色单元格被掩码屏蔽，着色单元格按稳定因子缩放。</translation>
    </message>
    <message>
        <source>No learned matrix to load: run a calibration with matrix transforms (or open a run) and pick the block and transform on the Matrices tab.</source>
        <translation>没有可载入的学习矩阵：请运行一次带矩阵变换的校准（或打开一个运行），并在“矩阵”标签页上选择块与变换。</translation>
    </message>
    <message>
        <source>This matrix (about %1 x %1) is stored only as tile averages of |a|, which are not a matrix: only matrices of up to 128 rows keep exact values. Pick a smaller transform on the Matrices tab (for example out or qkt).</source>
        <translation>该矩阵（约 %1 x %1）只以 |a| 的分块平均值存储，这并不是一个矩阵：只有不超过 128 行的矩阵保留精确值。请在“矩阵”标签页上选择较小的变换（例如 out 或 qkt）。</translation>
    </message>
    <message>
        <source>The selected snapshots are not square matrices with values.</source>
        <translation>所选快照不是带数值的方阵。</translation>
    </message>
    <message>
        <source>Learned: block %1, %2</source>
        <translation>学习到的：块 %1，%2</translation>
    </message>
    <message>
        <source>Stored epochs of the learned matrix, oldest on the left.</source>
        <translation>学习到的矩阵的各存储轮，最早的在左侧。</translation>
    </message>
    <message>
        <source>&amp;Pause</source>
        <translation>暂停(&amp;P)</translation>
    </message>
    <message>
        <source>A given %1 x %1 matrix S.</source>
        <translation>给定的 %1 x %1 矩阵 S。</translation>
    </message>
    <message>
        <source>Random S (seed %1): diagonal entries in [1, 1.5], the others in [-0.6, 0.6].</source>
        <translation>随机 S（种子 %1）：对角元素在 [1, 1.5] 内，其余在 [-0.6, 0.6] 内。</translation>
    </message>
    <message>
        <source>Failing example: every row of S sums to zero, so S·(1, …, 1)ᵀ = 0 and S is singular; every disc reaches the origin. At the last epoch with stability factor 1 the mask is all ones and A = S. Lower the factor below %1, or go back to an earlier epoch, and the discs pull away from 0.</source>
        <translation>失败示例：S 的每一行之和为零，因此 S·(1, …, 1)ᵀ = 0，S 奇异；每个圆盘都触及原点。在最后一轮且稳定因子为 1 时，掩码全为 1，A = S。将稳定因子降到 %1 以下，或回到较早的轮，圆盘便会离开 0。</translation>
    </message>
    <message>
        <source>Learned matrix of block %1, %2: %3 x %3, exact values as trained (already masked). The tables, discs and eigenvalues show its leading %4 x %4 block.</source>
        <translation>块 %1 的学习矩阵 %2：%3 x %3，训练所得的精确值（已施加掩码）。表格、圆盘和特征值显示其前 %4 x %4 主子块。</translation>
    </message>
    <message>
        <source>epoch %1 (%2 of %3 stored)</source>
        <translation>第 %1 轮（已存储 %3 轮中的第 %2 轮）</translation>
    </message>
    <message>
        <source>as trained</source>
        <translation>按训练所用</translation>
    </message>
    <message numerus="yes">
        <source>Mask of this epoch: %n diagonal(s) on each side of the main one are trained.</source>
        <translation>
            <numerusform>本轮掩码：主对角线两侧各训练 %n 条对角线。</numerusform>
        </translation>
    </message>
    <message>
        <source>Leading %1 x %1 block: </source>
        <translation>前 %1 x %1 主子块：</translation>
    </message>
    <message>
        <source>strictly diagonally dominant (smallest margin %1)</source>
        <translation>严格对角占优（最小裕度 %1）</translation>
    </message>
    <message numerus="yes">
        <source>%n row(s) not strictly diagonally dominant</source>
        <translation>
            <numerusform>%n 行非严格对角占优</numerusform>
        </translation>
    </message>
    <message>
        <source>invertible, condition estimate %1</source>
        <translation>可逆，条件数估计 %1</translation>
    </message>
    <message>
        <source>singular</source>
        <translation>奇异</translation>
    </message>
    <message>
        <source>Whole matrix (%1 x %1): %2; %3.</source>
        <translation>整个矩阵（%1 x %1）：%2；%3。</translation>
    </message>
    <message>
        <source>No disc contains the origin: 0 cannot be an eigenvalue, so A is invertible (Levy–Desplanques).</source>
        <translation>没有圆盘包含原点：0 不可能是特征值，因此 A 可逆（Levy–Desplanques 定理）。</translation>
    </message>
    <message numerus="yes">
        <source>%n disc(s) reach the origin: dominance cannot vouch for invertibility here.</source>
        <translation>
            <numerusform>%n 个圆盘触及原点：此时对角占优无法保证可逆。</numerusform>
        </translation>
    </message>
    <message>
        <source>a[%1,%2] = %3, mask %4</source>
        <translation>a[%1,%2] = %3，掩码 %4</translation>
    </message>
    <message>
        <source>disc of a dominant row</source>
        <translation>对角占优行的圆盘</translation>
    </message>
    <message>
        <source>disc reaching 0</source>
        <translation>触及 0 的圆盘</translation>
    </message>
    <message>
        <source>centre a_ii</source>
        <translation>圆心 a_ii</translation>
    </message>
    <message>
        <source>origin</source>
        <translation>原点</translation>
    </message>
    <message>
        <source>eigenvalue</source>
        <translation>特征值</translation>
    </message>
    <message>
        <source>Failing example (singular S)</source>
        <translation>失败示例（奇异的 S）</translation>
    </message>
</context>
<context>
    <name>aq::widgets::WeightHistogramView</name>
    <message>
        <source>weight value</source>
        <translation>权重值</translation>
    </message>
    <message>
        <source>Linear layer of the block whose (transformed) weight is shown.</source>
        <translation>显示其（变换后）权重的块内线性层。</translation>
    </message>
    <message>
        <source>Block:</source>
        <translation>块：</translation>
    </message>
    <message>
        <source>Layer:</source>
        <translation>层：</translation>
    </message>
    <message>
        <source>No weight histogram yet: one arrives per layer once its block is calibrated.</source>
        <translation>还没有权重直方图：每个块校准完成后，会为每一层提供一份。</translation>
    </message>
    <message>
        <source>No histogram for this block and layer.</source>
        <translation>此块和层没有直方图。</translation>
    </message>
    <message>
        <source>number of weights</source>
        <translation>权重个数</translation>
    </message>
    <message>
        <source>weights of the layer</source>
        <translation>该层的权重</translation>
    </message>
    <message>
        <source>grid levels of the first row/group</source>
        <translation>第一行/组的网格级别</translation>
    </message>
    <message>
        <source>clipping bounds of the first row/group</source>
        <translation>第一行/组的截断边界</translation>
    </message>
    <message>
        <source>range of the bounds of all rows/groups</source>
        <translation>所有行/组截断边界的范围</translation>
    </message>
    <message>
        <source>&amp;Logarithmic counts</source>
        <translation>计数使用对数坐标(&amp;L)</translation>
    </message>
    <message>
        <source>Count weights on a base-10 logarithmic axis: the tails that clipping cuts hold few weights and vanish on a linear axis. Empty bins draw nothing.</source>
        <translation>以 10 为底的对数坐标显示权重个数：被截断的尾部权重很少，在线性坐标上几乎看不见。空的区间不绘制。</translation>
    </message>
    <message>
        <source>First row/group (dashed, ticks): bounds [%1, %2], %3 grid levels. All rows/groups (shaded): lower bounds %4 to %5, upper bounds %6 to %7. Outside the bounds of their own row/group: %8 weights (%9%), %10 below and %11 above.</source>
        <translation>第一行/组（虚线、刻度）：边界 [%1, %2]，%3 个网格级别。所有行/组（阴影）：下边界 %4 至 %5，上边界 %6 至 %7。超出所在行/组边界的权重：%8 个（%9%），低于下边界 %10 个，高于上边界 %11 个。</translation>
    </message>
</context>
<context>
    <name>main</name>
    <message>
        <source>Quantize large language models with AffineQuant and watch the calibration live.</source>
        <translation>用 AffineQuant 量化大语言模型，并实时观察校准过程。</translation>
    </message>
    <message>
        <source>Model folder to open (default: the last one, or the bundled demo model).</source>
        <translation>要打开的模型文件夹（默认：上次的模型，或随附的演示模型）。</translation>
    </message>
    <message>
        <source>Language for this session, e.g. zh_CN or en.</source>
        <translation>本次会话使用的语言，例如 zh_CN 或 en。</translation>
    </message>
</context>
</TS>
