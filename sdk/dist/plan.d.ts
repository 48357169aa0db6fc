export interface Plan {
    /**
     * @maxItems 20
     */
    steps?: (Find | Insert | Update | Delete | Aggregate | Call | Filter)[];
    result?: number | null;
    params?: {
        [k: string]: unknown;
    };
    refuse?: string | null;
}
/**
 * Select records of one model (in creation order unless ordered).
 */
export interface Find {
    op: "find";
    model: string;
    where?: {
        [k: string]: unknown;
    } | null;
    orderBy?: Order[];
    limit?: number | null;
    offset?: number | null;
}
/**
 * Order by a field (``"$created"`` is creation order) or by a computed ``expr``.
 */
export interface Order {
    field?: string | null;
    expr?: {
        [k: string]: unknown;
    };
    direction?: "asc" | "desc";
}
/**
 * Create records; ids are generated unless given.
 */
export interface Insert {
    op: "insert";
    model: string;
    /**
     * @minItems 1
     * @maxItems 1000
     */
    values: {
        [k: string]: unknown;
    }[];
}
/**
 * Change the records matching ``where``; returns them as they are after the change.
 */
export interface Update {
    op: "update";
    model: string;
    where?: {
        [k: string]: unknown;
    } | null;
    set: {
        [k: string]: unknown;
    };
}
/**
 * Remove the records matching ``where``; returns them as they were.
 */
export interface Delete {
    op: "delete";
    model: string;
    where?: {
        [k: string]: unknown;
    } | null;
}
/**
 * Count, sum, average, min or max, optionally grouped.
 */
export interface Aggregate {
    op: "aggregate";
    model: string;
    where?: {
        [k: string]: unknown;
    } | null;
    groupBy?: string[];
    /**
     * @minItems 1
     */
    aggregates: Aggregation[];
    orderBy?: Order[];
    limit?: number | null;
}
export interface Aggregation {
    fn: "count" | "sum" | "avg" | "min" | "max";
    field?: string | null;
    expr?: {
        [k: string]: unknown;
    };
    as: string;
}
/**
 * Invoke a registered connector with arguments checked against its signature.
 */
export interface Call {
    op: "call";
    connector: string;
    args?: {
        [k: string]: unknown;
    };
}
/**
 * Filter, order and limit the records an earlier ``call`` step returned.
 */
export interface Filter {
    op: "filter";
    step: number;
    where?: {
        [k: string]: unknown;
    } | null;
    orderBy?: Order[];
    limit?: number | null;
}
