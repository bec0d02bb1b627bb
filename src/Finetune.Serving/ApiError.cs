namespace Finetune.Serving;

/// <summary>
/// A request the server refuses, answered as text-embeddings-inference does: the status code and
/// `{"error": message, "error_type": kind}`.
/// </summary>
internal sealed class ApiError(int status, string errorType, string message) : Exception(message)
{
    public int Status { get; } = status;
    public string ErrorType { get; } = errorType;

    /// <summary>TEI's "validation" (413): too many inputs, too long an input, too large a body.</summary>
    public static ApiError Validation(string message) => new(413, "validation", message);

    /// <summary>TEI's "empty" (400): no inputs or an empty text.</summary>
    public static ApiError Empty(string message) => new(400, "empty", message);

    /// <summary>The body is not the JSON the route takes (422, as a JSON extractor rejection in TEI).</summary>
    public static ApiError Malformed(string message) => new(422, "validation", message);

    /// <summary>TEI's "overloaded" (429): every request slot is taken.</summary>
    public static ApiError Overloaded(string message) => new(429, "overloaded", message);

    public static ApiError Unauthorized() => new(401, "unauthorized", "Missing or wrong API key: send `Authorization: Bearer <key>`.");
}
